"""Contract samples shared by tests: build one, override what the test is about."""

from __future__ import annotations

from typing import Any


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
    }
    return {**run, **overrides}
