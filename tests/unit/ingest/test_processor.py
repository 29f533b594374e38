from __future__ import annotations

from tests.samples import CountingMetrics, trade_event
from workers.config import load_settings
from workers.contracts.identity import correlation_id
from workers.ingest.processor import DedupeWindow, IngestProcessor
from workers.ingest.settings import IngestSettings
from workers.processing import Edges, Record
from workers.processing.driver import Driver
from workers.topology import load_topology

TRADE = trade_event()


def _record(event, offset=0, headers=None, key=None, timestamp_ms=0):
    key = event["symbol"] if key is None else key
    return Record("market.raw", 1, offset, key, event, headers or {}, b"raw-bytes", timestamp_ms)


def test_valid_event_is_wrapped_pinned_and_correlated():
    proc = IngestProcessor(IngestSettings())
    [out] = proc.process(_record(TRADE, 7), {}, now_ms=123)
    assert out.topic == "market.buffer" and out.partition == 1 and out.key == "S"
    assert (
        out.value["event"] == TRADE and out.value["source_offset"] == 7 and out.value["ingest_ts_ms"] == 123
    )
    assert out.headers["correlation_id"] == correlation_id("e1") == out.value["correlation_id"]
    [kept] = proc.process(_record({**TRADE, "event_id": "e2"}, headers={"correlation_id": "abc"}), {}, 0)
    assert kept.value["correlation_id"] == "abc"


def test_invalid_event_is_dead_lettered_with_original_bytes_and_reason():
    proc = IngestProcessor(IngestSettings())
    [out] = proc.process(_record({**TRADE, "trade": {**TRADE["trade"], "price": -1.0}}, 3), {}, 0)
    assert out.topic == "market.raw.dlq" and out.value == b"raw-bytes"
    assert out.headers["error_code"] == "NON_POSITIVE_PRICE" and out.headers["source_offset"] == "3"


def test_duplicates_within_the_window_are_dropped_and_counted():
    metrics = CountingMetrics()
    proc = IngestProcessor(IngestSettings(dedupe_window=2), Edges(metrics=metrics))
    ids = ["a", "b", "a", "c", "a"]  # the third "a" is outside the 2-id window again
    outs = [proc.process(_record({**TRADE, "event_id": i}), {}, 0) for i in ids]
    assert [len(o) for o in outs] == [1, 1, 0, 1, 1] and metrics.counts["duplicates_dropped"] == 1


def test_assignment_restores_the_window_from_the_buffer_tail():
    driver = Driver(load_topology(2))
    driver.preload("market.buffer", 1, 0, "S", {"event": TRADE})
    driver.preload("market.buffer", 1, 1, "S", {"not": "a buffer record"})
    proc = IngestProcessor(IngestSettings(), Edges(reads=driver))
    proc.assigned([1])
    assert proc.process(_record(TRADE), {}, 0) == []
    assert len(proc.process(_record({**TRADE, "event_id": "e2"}), {}, 0)) == 1
    window = DedupeWindow(3, ["x", "y", "z", "w"])
    assert "x" not in window and "w" in window


def test_a_key_that_is_not_the_symbol_is_dead_lettered():
    proc = IngestProcessor(IngestSettings())
    for key in ("", "OTHER"):
        [out] = proc.process(_record(TRADE, key=key), {}, 0)
        assert out.topic == "market.raw.dlq" and out.headers["error_code"] == "KEY_MISMATCH"
    [none_key] = proc.process(Record("market.raw", 1, 0, None, TRADE, {}, b"raw-bytes"), {}, 0)
    assert none_key.headers["error_code"] == "KEY_MISMATCH"


def test_an_event_far_ahead_of_its_record_timestamp_is_dead_lettered():
    proc = IngestProcessor(IngestSettings(max_future_ms=60_000))
    stamped = TRADE["event_ts_ms"] - 30_000
    assert proc.process(_record(TRADE, timestamp_ms=stamped), {}, 0)[0].topic == "market.buffer"
    future = {**TRADE, "event_id": "e9", "event_ts_ms": 3_993_000_000_000}  # 2096
    [out] = proc.process(_record(future, timestamp_ms=stamped), {}, 0)
    assert out.headers["error_code"] == "EVENT_IN_FUTURE"


def test_dead_letters_keep_binary_keys_and_headers_byte_for_byte():
    proc = IngestProcessor(IngestSettings())
    raw_key, raw_headers = b"\xff\xfeS", (("trace", b"\x00\xff"),)
    bad = Record("market.raw", 1, 4, "\ufffd\ufffdS", TRADE, {}, b"v", 0, raw_key, raw_headers)
    [out] = proc.process(bad, {}, 0)
    assert out.key == raw_key and out.headers["trace"] == b"\x00\xff" and out.value == b"v"


def test_load_settings_is_what_the_driver_uses():
    assert (
        Driver.for_fleet(load_settings(), load_topology(2), ["ingest"]).processors["ingest"].name == "ingest"
    )
