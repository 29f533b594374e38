"""A fuzz run against a live ingest worker: seeded random bytes, mutated events, wrong keys,
binary headers, hostile timestamps and oversized values. Every bad record must be in the DLQ
with a reason and its original bytes, every good one in the buffer, and ingest never exits."""

from __future__ import annotations

import copy
import random
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from harness.demo.data import synthetic_intraday
from workers import clients
from workers.contracts import DecodeError, InvalidEvent, Serde
from workers.contracts.validation import check_raw_event

pytestmark = pytest.mark.integration
CASES = 400


def _mutate(rng: random.Random, event: dict, i: int) -> dict:
    e = copy.deepcopy(event)
    e["event_id"] = f"fuzz-{i}"
    member = e[{"TRADE": "trade", "BAR": "bar"}.get(e["kind"], "trade")] or {}
    field = rng.choice(sorted(member)) if member else None
    if field is not None and isinstance(member[field], float):
        member[field] = rng.choice([-1.0, 0.0, float("nan"), float("inf"), 1e308, member[field]])
    e["event_ts_ms"] = rng.choice([e["event_ts_ms"], 1, 4_200_000_000_000, e["event_ts_ms"]])
    return e


def test_fuzzed_records_are_all_accounted_for_and_ingest_survives(fleet_factory):
    fleet = fleet_factory(ingest__max_future_ms="86400000")
    s = fleet.settings()
    serde, rng = Serde(), random.Random(20261126)
    good = synthetic_intraday(2, 60)
    producer = Producer({**clients.producer_config(s, None), "message.max.bytes": 2_000_000})
    topic = s.topic("market.raw")
    expected_good, expected_bad = [e["event_id"] for e in good], []
    for e in good:
        producer.produce(topic, serde.encode("RawMarketEvent", e), e["symbol"].encode())
    for i in range(CASES):
        kind = rng.randrange(5)
        key: bytes | None = b"SYN000"
        headers = [("trace", bytes(rng.randrange(256) for _ in range(4)))]
        if kind == 0:  # random bytes, sometimes with the single-object header
            value = rng.choice([b"", b"\xc3\x01"]) + bytes(
                rng.randrange(256) for _ in range(rng.randrange(64))
            )
        elif kind == 1:  # a well-typed event with broken semantics or timestamps
            event = _mutate(rng, rng.choice(good), i)
            try:
                value = serde.encode("RawMarketEvent", event, check=True)
            except DecodeError:
                continue
            key = event["symbol"].encode()
            try:
                check_raw_event(event, min_ts_ms=315_532_800_000, max_ts_ms=4_102_444_800_000)
                stamped_too_far = event["event_ts_ms"] > 1_900_000_000_000
                if not stamped_too_far:
                    expected_good.append(event["event_id"])
                    producer.produce(topic, value, key, headers=headers)
                    continue
            except InvalidEvent:
                pass
        elif kind == 2:  # a valid event under the wrong key (or none)
            event = {**rng.choice(good), "event_id": f"fuzz-{i}"}
            value = serde.encode("RawMarketEvent", event)
            key = rng.choice([None, b"", b"OTHER", b"\xff\xfe"])
        elif kind == 3:  # a valid event far in the future of its record timestamp
            event = {**rng.choice(good), "event_id": f"fuzz-{i}", "event_ts_ms": 3_993_000_000_000}
            value = serde.encode("RawMarketEvent", event)
            key = event["symbol"].encode()
        else:  # a valid event whose buffer record would not fit market.buffer (600 kB here)
            if rng.random() < 0.9:
                continue  # a few are enough
            event = {**rng.choice(good), "event_id": f"fuzz-{i}", "source": "x" * 650_000}
            value = serde.encode("RawMarketEvent", event)
            key = event["symbol"].encode()
        expected_bad.append((value, key, headers))
        producer.produce(topic, value, key, headers=headers)
    assert producer.flush(30) == 0
    limit = ConfigEntry("max.message.bytes", "600000", incremental_operation=AlterConfigOpType.SET)
    buffer = ConfigResource(ResourceType.TOPIC, s.topic("market.buffer"), incremental_configs=[limit])
    admin = AdminClient(clients.base_config(s))
    for future in admin.incremental_alter_configs([buffer]).values():
        future.result(30)
    ingest = fleet.start("ingest")

    buffered = fleet.consume("market.buffer", len(expected_good), timeout=120)
    dlq = fleet.consume("market.raw.dlq", len(expected_bad), timeout=60)
    assert ingest.poll() is None, fleet.log("ingest")[-3000:]
    assert sorted(r["value"]["event"]["event_id"] for r in buffered) == sorted(expected_good)
    assert len(dlq) == len(expected_bad)
    codes = {r["headers"]["error_code"] for r in dlq}
    assert {"UNDECODABLE", "KEY_MISMATCH", "EVENT_IN_FUTURE"} <= codes, codes
    assert all(r["headers"]["error_message"] for r in dlq)
    assert any(len(v) > 600_000 for v, _, _ in expected_bad) and "OUTPUT_TOO_LARGE" in codes
    # The DLQ keeps the original value, key and header bytes, whatever they are.
    kept = sorted((v, k, h) for v, k, h in _raw_records(s, "market.raw.dlq", len(expected_bad)))
    assert kept == sorted((v, k, dict(h)["trace"]) for v, k, h in expected_bad)


def _raw_records(s, topic: str, count: int) -> list[tuple[bytes, bytes | None, bytes]]:
    consumer = Consumer(clients.reader_config(s))
    name = s.topic(topic)
    parts = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in parts])
    out: list[tuple[bytes, bytes | None, bytes]] = []
    deadline = time.monotonic() + 30
    while len(out) < count and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            if msg.error() is None:
                out.append((msg.value(), msg.key(), dict(msg.headers() or [])["trace"]))
    consumer.close()
    return out
