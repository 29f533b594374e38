from __future__ import annotations

from tests.samples import trade_event
from workers.config import IngestSettings
from workers.contracts.identity import correlation_id
from workers.ingest.processor import DedupeWindow, IngestProcessor
from workers.runtime.records import Record

TRADE = trade_event()


def _record(event, offset=0, headers=None):
    return Record("market.raw", 1, offset, event["symbol"], event, headers or {}, b"raw-bytes")


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
    dropped = []
    proc = IngestProcessor(IngestSettings(dedupe_window=2), on_duplicate=lambda: dropped.append(1))
    ids = ["a", "b", "a", "c", "a"]  # the third "a" is outside the 2-id window again
    outs = [proc.process(_record({**TRADE, "event_id": i}), {}, 0) for i in ids]
    assert [len(o) for o in outs] == [1, 1, 0, 1, 1] and len(dropped) == 1


def test_seed_restores_the_window_from_the_buffer():
    proc = IngestProcessor(IngestSettings())
    proc.seed(1, ["e1"])
    assert proc.process(_record(TRADE), {}, 0) == []
    window = DedupeWindow(3, ["x", "y", "z", "w"])
    assert "x" not in window and "w" in window
