from __future__ import annotations

from tests.samples import CountingMetrics, result_event
from workers.contracts.identity import event_hash
from workers.processing import Edges, Record, StoreView
from workers.publisher.processor import PublisherProcessor
from workers.state.memory import MemoryStore

_event = result_event


def test_redeliveries_are_published_once_and_the_chain_links():
    metrics = CountingMetrics()
    proc = PublisherProcessor(Edges(metrics=metrics))
    view = StoreView(MemoryStore())
    sequence = [
        (100, "EngineRunStarted"),
        (100, "EngineRunCompleted"),
        (100, "EngineRunStarted"),
        (100, "EngineRunCompleted"),
        (200, "EngineRunStarted"),
        (200, "EngineRunFailed"),
    ]
    published = []
    for i, (ts, kind) in enumerate(sequence):
        rec = Record("engine.results", 0, i, "S", _event(ts, kind), {})
        published += [o.value for o in proc.process(rec, {"chain": view}, 5)]
    assert [(p["engine_timestamp_ms"], p["event_type"]) for p in published] == [
        (100, "EngineRunStarted"),
        (100, "EngineRunCompleted"),
        (200, "EngineRunStarted"),
        (200, "EngineRunFailed"),
    ]
    assert metrics.counts["duplicates_dropped"] == 2
    assert metrics.counts["published_events"] == 4
    prev = ""
    for p in published:
        assert p["provenance"]["prev_event_hash"] == prev
        assert p["provenance"]["event_hash"] == event_hash(p)
        prev = p["provenance"]["event_hash"]


def test_event_hash_ignores_non_authoritative_fields():
    a, b = _event(1, "EngineRunStarted"), _event(1, "EngineRunStarted")
    b["published_at_ms"] = 999
    assert event_hash(a) == event_hash(b)
    b["symbol"] = "T"
    assert event_hash(a) != event_hash(b)


def test_a_forged_result_is_dead_lettered_and_does_not_mute_the_symbol():
    proc = PublisherProcessor()
    view = StoreView(MemoryStore())
    forged = {**_event(10**13, "EngineRunCompleted"), "run_id": "f" * 32}
    [out] = proc.process(Record("engine.results", 0, 0, "S", forged, {}, b"forged"), {"chain": view}, 5)
    assert (
        out.topic == "fleet.dlq"
        and out.headers["error_code"] == "RESULT_UNVERIFIED"
        and out.value == b"forged"
    )
    later = proc.process(
        Record("engine.results", 0, 1, "S", _event(100, "EngineRunStarted"), {}), {"chain": view}, 5
    )
    assert [o.topic for o in later] == ["regime.events"]
