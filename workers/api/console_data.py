"""Blocking Kafka reads for the console (the routes run them in a thread, each bounded): a
symbol's price bars from market.buffer, and the recent records of the dead-letter queues with
their error_code, message and original bytes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing.records import ERROR_CODE, ERROR_MESSAGE, header_map
from workers.runtime.commands import symbol_partition
from workers.topics import BUFFER
from workers.topology import Topology

TIMEOUT_S = 10.0
SCAN_LIMIT = 200_000  # market.buffer records read back at most for one symbol's bars


class ReadError(Exception):
    """A partition that could not be read (the route answers 503: Kafka is not answering)."""


class UnknownDeadLetter(Exception):
    """No such dead-letter topic, partition or offset (the route answers 404)."""


def dead_letter_topics(topology: Topology) -> list[str]:
    """The dead-letter topics fleet.yaml declares (logical names)."""
    return sorted({w.dead_letter for w in topology.workers.values() if w.dead_letter})


def _read(consumer: Consumer, tp: TopicPartition, high: int, deadline: float) -> list[Message]:
    """Every record of `tp` from its offset up to `high` (what a read_committed reader sees)."""
    if tp.offset >= high:
        return []  # nothing to read: never wait for a fetch that brings nothing
    consumer.assign([tp])
    out: list[Message] = []
    while time.monotonic() < deadline:
        position = consumer.position([TopicPartition(tp.topic, tp.partition)])[0].offset
        if position >= high:
            break
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is None:
                out.append(msg)
            elif msg.error().code() != KafkaError._PARTITION_EOF:
                raise ReadError(f"reading {tp.topic}[{tp.partition}]: {msg.error()}")
    return out


def price_bars(settings: FleetSettings, symbol: str, limit: int) -> dict[str, Any]:
    """The symbol's last `limit` prices on market.buffer: bars (close) and trades (price), by
    event time, from its partition (every keyed topic shares the partitioner)."""
    name = settings.topic(BUFFER)
    partition = symbol_partition(symbol, settings.partitions)
    serde = Serde.of(settings)
    consumer = Consumer(clients.reader_config(settings))
    key = symbol.encode()
    points: list[dict[str, Any]] = []
    try:
        low, high = clients.watermarks(consumer, name, partition, TIMEOUT_S)
        start = max(low, high - SCAN_LIMIT)
        msgs = _read(consumer, TopicPartition(name, partition, start), high, time.monotonic() + TIMEOUT_S * 3)
        for msg in msgs:
            if msg.key() != key:
                continue
            try:
                event = serde.decode("RawInputBufferRecord", msg.value())["event"]
            except DecodeError:
                continue
            point = _price(event)
            if point is not None:
                points.append(point)
    finally:
        consumer.close()
    points.sort(key=lambda p: p["t"])
    return {"symbol": symbol, "partition": partition, "bars": points[-limit:] if limit else points}


def _price(event: dict[str, Any]) -> dict[str, Any] | None:
    t = int(event["event_ts_ms"])
    if event["kind"] == "BAR" and event.get("bar"):
        bar = event["bar"]
        return {"t": t, "open": bar["open"], "high": bar["high"], "low": bar["low"], "close": bar["close"]}
    if event["kind"] == "TRADE" and event.get("trade"):
        price = event["trade"]["price"]
        return {"t": t, "open": price, "high": price, "low": price, "close": price}
    return None


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    size: int

    def as_dict(self) -> dict[str, Any]:
        h = self.headers
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "key": self.key,
            "error_code": h.get(ERROR_CODE, ""),
            "error_message": h.get(ERROR_MESSAGE, ""),
            "source": {
                "topic": h.get("source_topic", ""),
                "partition": h.get("source_partition", ""),
                "offset": h.get("source_offset", ""),
            },
            "event_type": h.get("event_type", ""),
            "correlation_id": h.get("correlation_id", ""),
            "size": self.size,
            "original": f"/v1/dead-letters/{self.topic}/{self.partition}/{self.offset}",
        }


def recent_dead_letters(settings: FleetSettings, topology: Topology, limit: int) -> dict[str, Any]:
    """The last `limit` records of each dead-letter topic (newest first) and each one's total."""
    consumer = Consumer(clients.reader_config(settings))
    rows: list[DeadLetter] = []
    totals: dict[str, int] = {}
    try:
        for topic in dead_letter_topics(topology):
            name = settings.topic(topic)
            meta = consumer.list_topics(name, timeout=TIMEOUT_S).topics.get(name)
            if meta is None or meta.error is not None:
                totals[topic] = 0
                continue
            totals[topic] = 0
            for p in sorted(meta.partitions):
                low, high = clients.watermarks(consumer, name, p, TIMEOUT_S)
                totals[topic] += max(0, high - low)
                if high <= low:
                    continue
                tp = TopicPartition(name, p, max(low, high - limit))
                for msg in _read(consumer, tp, high, time.monotonic() + TIMEOUT_S):
                    rows.append(_dead_letter(topic, msg))
    finally:
        consumer.close()
    rows.sort(key=lambda r: (r.timestamp_ms, r.offset), reverse=True)
    return {"topics": totals, "records": [r.as_dict() for r in rows[:limit]]}


def _dead_letter(topic: str, msg: Message) -> DeadLetter:
    key = msg.key()
    return DeadLetter(
        topic,
        msg.partition(),
        msg.offset(),
        msg.timestamp()[1],
        key.decode("utf-8", "replace") if key is not None else None,
        header_map(msg.headers()),
        len(msg.value() or b""),
    )


def original_bytes(
    settings: FleetSettings, topology: Topology, topic: str, partition: int, offset: int
) -> bytes:
    """The dead-lettered record's value, byte for byte (what the worker could not process)."""
    if topic not in dead_letter_topics(topology):
        raise UnknownDeadLetter(f"{topic!r} is not a dead-letter topic of fleet.yaml")
    name = settings.topic(topic)
    consumer = Consumer(clients.reader_config(settings))
    try:
        meta = consumer.list_topics(name, timeout=TIMEOUT_S).topics.get(name)
        if meta is None or meta.error is not None or partition not in meta.partitions:
            raise UnknownDeadLetter(f"{topic} has no partition {partition}")
        low, high = clients.watermarks(consumer, name, partition, TIMEOUT_S)
        if not low <= offset < high:
            raise UnknownDeadLetter(f"{topic}[{partition}] holds offsets {low}..{high - 1}, not {offset}")
        consumer.assign([TopicPartition(name, partition, offset)])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            for msg in consumer.consume(1, 0.2):
                if msg.error() is None and msg.offset() == offset:
                    return bytes(msg.value() or b"")
                if msg.error() is None and msg.offset() > offset:
                    raise UnknownDeadLetter(f"{topic}[{partition}] has no record at {offset} (a marker)")
    finally:
        consumer.close()
    raise UnknownDeadLetter(f"{topic}[{partition}]@{offset} could not be read in time")
