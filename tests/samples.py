"""Contract samples shared by tests: build one, override what the test is about."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from workers.contracts.identity import event_id, run_id


def trade_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": "e1",
        "symbol": "S",
        "event_ts_ms": 1_700_000_000_000,
        "kind": "TRADE",
        "trade": {"price": 10.0, "size": 1.0, "side": "BUY"},
        "quote": None,
        "bar": None,
        "snapshot_inputs": None,
        "source": "",
    }
    return {**event, **overrides}


def planned_run(**overrides: Any) -> dict[str, Any]:
    run = {
        "run_id": "r",
        "symbol": "S",
        "engine_timestamp_ms": 1,
        "planned_ts_ms": 2,
        "cut_start_ingest_seq": 0,
        "cut_end_ingest_seq": 4,
        "cut_kind": "BOUNDARY",
        "snapshot_ingest_seq": 3,
        "engine_mode": "TRUTH",
        "engine_version": "v",
        "config_fingerprint": "c",
        "status": "PLANNED",
        "attempt": 0,
        "error": None,
        "input_hash": "h",
        "cut_record_count": 5,
        "correlation_id": "c",
        "input_hash_version": 2,
    }
    return {**run, **overrides}


def result_event(ts: int, event_type: str, symbol: str = "S") -> dict[str, Any]:
    """An engine result whose run_id and event_id are derived from its fields, as an engine's are."""
    fields = {
        "symbol": symbol,
        "engine_timestamp_ms": ts,
        "cut_start_ingest_seq": ts,
        "cut_end_ingest_seq": ts + 1,
        "cut_kind": "BOUNDARY",
        "engine_mode": "TRUTH",
    }
    rid = run_id(**fields, engine_version="v", config_fingerprint="c")
    return {
        **fields,
        "event_id": event_id(rid, event_type),
        "event_type": event_type,
        "run_id": rid,
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


def regime_event(ts: int, regime: str, confidence: float, symbol: str = "S") -> dict[str, Any]:
    """A complete truth-mode EngineRunCompleted (an OrchestratorEvent on regime.events)."""
    return {
        **result_event(ts, "EngineRunCompleted", symbol),
        "schema": "orchestrator_event",
        "schema_version": "1",
        "regime_output": {"regime": regime, "confidence": confidence, "features": {}, "reason_codes": []},
        "hysteresis_decision": None,
        "error": None,
    }


class CountingMetrics:
    """A processing.Metrics sink that remembers what a core recorded."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.observed: dict[str, list[float]] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts[name] += int(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observed.setdefault(name, []).append(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    @contextlib.contextmanager
    def timer(self, name: str, **labels: str) -> Iterator[None]:
        yield
        self.observe(name, 0.0, **labels)
