"""Read whole topics (read_committed) from the low to the high watermark, for replay and audits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing import Record
from workers.processing.records import header_map


class TopicError(Exception):
    """A topic that cannot be read as asked: unknown, empty, or already deleted by retention."""


@dataclass(frozen=True)
class Stored:
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    headers: dict[str, str]
    timestamp_ms: int = 0
    raw: bytes = b""  # the value as stored (the input hash v2 slices buffered events out of it)


def read_all(
    settings: FleetSettings,
    topic: str,
    schema: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 300.0,
    wanted: Callable[[int, int], bool] | None = None,
    skip_undecodable: bool = False,
) -> Iterator[Stored]:
    """Every committed record of `topic` (logical name), partition by partition, decoded;
    with `wanted(partition, offset)`, only those records are decoded and yielded; with
    `skip_undecodable`, records a worker would have dead-lettered as UNDECODABLE are left out."""
    name = settings.topic(topic)
    serde = Serde.of(settings)
    consumer = Consumer(clients.reader_config(settings))
    try:
        meta = consumer.list_topics(name, timeout=10).topics.get(name)
        if meta is None or meta.error is not None:
            raise TopicError(f"topic {name} does not exist")
        bounds = {p: clients.watermarks(consumer, name, p, 10) for p in meta.partitions}
        total = sum(high - low for low, high in bounds.values())
        seen = 0
        for partition, (low, high) in sorted(bounds.items()):
            if high <= low:
                continue
            consumer.assign([TopicPartition(name, partition, low)])
            deadline = time.monotonic() + timeout_s
            while consumer.position([TopicPartition(name, partition)])[0].offset < high:
                if time.monotonic() > deadline:
                    raise TopicError(f"reading {name}[{partition}] timed out before offset {high}")
                for msg in consumer.consume(1000, 0.1):
                    if msg.error() is not None:
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            continue
                        raise TopicError(f"reading {name}[{partition}]: {msg.error()}")
                    seen += 1
                    if progress is not None:
                        progress(seen, total)
                    if wanted is not None and not wanted(partition, msg.offset()):
                        continue
                    key = msg.key().decode("utf-8", "replace") if msg.key() is not None else None
                    try:
                        value = serde.decode(
                            schema, msg.value(), topic=topic, partition=partition, offset=msg.offset()
                        )
                    except DecodeError:
                        if skip_undecodable:
                            continue
                        raise
                    headers = header_map(msg.headers())
                    yield Stored(
                        partition, msg.offset(), key, value, headers, msg.timestamp()[1], msg.value() or b""
                    )
    finally:
        consumer.close()


def take(consumer: Consumer, n: int, wait_s: float) -> list[Message]:
    """Up to `n` messages: what the client has fetched, at once; when nothing is, wait at most
    `wait_s` for a first one and take what came with it. (consume(n, t) waits for n messages
    or t: a batch-fill wait on every read at low rates.)"""
    msgs: list[Message] = consumer.consume(num_messages=n, timeout=0)
    if msgs or wait_s <= 0:
        return msgs
    msgs = consumer.consume(num_messages=1, timeout=wait_s)
    if msgs and n > 1:
        msgs += consumer.consume(num_messages=n - 1, timeout=0)
    return msgs


def record_of(msg: Message, topic: str, value: Mapping[str, Any] | None = None) -> Record:
    """A consumed message as a Record (with its decoded value, if given), original bytes kept."""
    raw_key, raw_headers = msg.key(), msg.headers() or []
    return Record(
        topic,
        msg.partition(),
        msg.offset(),
        raw_key.decode("utf-8", "replace") if raw_key is not None else None,
        {} if value is None else value,
        header_map(raw_headers),
        msg.value() or b"",
        msg.timestamp()[1],
        raw_key,
        tuple(raw_headers),
    )
