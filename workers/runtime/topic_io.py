"""Records in and out of a topic from outside a worker, with the topic's contract: for
`regime-fleet produce|consume`, model publishing, the harnesses and the tests."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer

from workers import clients
from workers.config import FleetSettings
from workers.contracts import ContractError, Serde
from workers.contracts.lines import encode_line
from workers.processing.records import header_map
from workers.topology import Topology


@dataclass
class ProduceReport:
    produced: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def produce_lines(
    settings: FleetSettings,
    topology: Topology,
    topic: str,
    lines: Iterable[str],
    serde: Serde | None = None,
) -> ProduceReport:
    """Validate, encode and produce each JSON line keyed by its symbol; report rejects by line."""
    if topic not in topology.topics:
        raise ContractError(f"unknown topic {topic!r}; known: {sorted(topology.topics)}")
    schema = topology.topics[topic].value_schema
    if schema is None:
        raise ContractError(f"topic {topic!r} has no value schema; produce raw bytes with kcat instead")
    serde = serde or Serde.of(settings)
    producer = Producer(clients.producer_config(settings, None))
    report = ProduceReport()
    errors: list[str] = []
    full = settings.topic(topic)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            encoded = encode_line(
                line,
                schema,
                serde,
                min_ts_ms=settings.section("ingest").min_event_ts_ms,
                max_ts_ms=settings.section("ingest").max_event_ts_ms,
                topic=full,
            )
        except ContractError as exc:
            report.rejected.append({"line": number, "reason": str(exc)})
            continue
        while True:
            try:
                producer.produce(
                    full,
                    encoded.data,
                    encoded.key,
                    headers=encoded.headers,
                    on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
                )
                break
            except BufferError:
                producer.poll(0.05)
        report.produced += 1
    producer.flush(60)
    if errors:
        raise ContractError(f"{len(errors)} records failed delivery: {errors[0]}")
    return report


def produce_values(
    settings: FleetSettings,
    topology: Topology,
    topic: str,
    records: Iterable[tuple[str, dict[str, Any], int | None]],
    serde: Serde | None = None,
) -> list[tuple[int, int]]:
    """Encode (key, value, partition or None: by key) records with the topic's contract and
    produce them in order; (partition, offset) of each, once every one is delivered."""
    schema = topology.topics[topic].value_schema
    if schema is None:
        raise ContractError(f"topic {topic!r} has no value schema")
    serde = serde or Serde.of(settings)
    producer = Producer(clients.producer_config(settings, None))
    full = settings.topic(topic)
    delivered: dict[int, tuple[int, int]] = {}
    errors: list[str] = []

    def report(index: int) -> Any:
        def on_delivery(err: Any, msg: Any) -> None:
            if err:
                errors.append(str(err))
            else:
                delivered[index] = (msg.partition(), msg.offset())

        return on_delivery

    count = 0
    for count, (key, value, partition) in enumerate(records, start=1):
        data = serde.encode(schema, value, topic=full)
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(
                    full,
                    data,
                    key.encode(),
                    headers=[("schema", schema.encode())],
                    on_delivery=report(count),
                    **extra,
                )
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(60)
    if errors or left:
        raise ContractError(
            f"{len(errors) + left} of {count} records to {full} were not delivered: {errors[:1]}"
        )
    return [delivered[i] for i in range(1, count + 1)]


def consume_records(
    settings: FleetSettings,
    topology: Topology,
    topic: str,
    *,
    from_beginning: bool,
    max_records: int | None,
    timeout_s: float,
) -> Iterator[dict[str, Any]]:
    """Yield decoded records (read_committed) until max_records or timeout_s of silence."""
    serde = Serde.of(settings)
    schema = topology.topics[topic].value_schema if topic in topology.topics else None
    consumer = Consumer(
        clients.consumer_config(
            settings,
            f"regime-fleet-cli-{uuid.uuid4().hex[:8]}",
            **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
        )
    )
    consumer.subscribe([settings.topic(topic)])
    seen, last = 0, time.monotonic()
    try:
        while max_records is None or seen < max_records:
            msgs = consumer.consume(num_messages=100, timeout=0.2)
            if not msgs and time.monotonic() - last > timeout_s:
                return
            for msg in msgs:
                if msg.error() is not None:
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise ContractError(f"consume failed: {msg.error()}")
                    continue
                last = time.monotonic()
                out: dict[str, Any] = {
                    "key": msg.key().decode("utf-8", "replace") if msg.key() is not None else None,
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "headers": header_map(msg.headers()),
                }
                if schema:
                    out["value"] = serde.decode(
                        schema,
                        msg.value(),
                        topic=topic,
                        partition=msg.partition(),
                        offset=msg.offset(),
                    )
                else:
                    out["value_base64"] = base64.b64encode(msg.value() or b"").decode()
                yield out
                seen += 1
                if max_records is not None and seen >= max_records:
                    return
    finally:
        consumer.close()
