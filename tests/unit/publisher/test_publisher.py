from __future__ import annotations

from workers.contracts.identity import event_hash
from workers.publisher.processor import PublisherProcessor
from workers.runtime.records import Record
from workers.state.memory import MemoryStore
from workers.state.store import StoreView


def _event(ts, event_type, run="r"):
    return {
        "event_id": f"{run}{event_type}",
        "event_type": event_type,
        "run_id": f"{run}{ts}",
        "symbol": "S",
        "engine_timestamp_ms": ts,
        "correlation_id": "c",
        "published_at_ms": 0,
        "provenance": {
            "input_hash": "i",
            "config_fingerprint": "c",
            "engine_version": "v",
            "prev_event_hash": "",
            "event_hash": "",
        },
    }


def test_redeliveries_are_published_once_and_the_chain_links():
    dropped = []
    proc = PublisherProcessor(on_duplicate=lambda: dropped.append(1))
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
    assert len(dropped) == 2
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
