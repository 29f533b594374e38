"""The fleet's pure cores chained in memory: what a broker-backed fleet must publish.

Offsets here are list positions, so run_ids and cut bounds differ from a real fleet's (whose
offsets include transaction markers); symbols, engine timestamps, regimes and hysteresis
decisions must not.
"""

from __future__ import annotations

from typing import Any

from workers.config import FleetSettings
from workers.engine.processor import EngineProcessor
from workers.runtime.records import Record
from workers.scheduler.processor import SchedulerProcessor
from workers.state.memory import MemoryStore
from workers.state.store import StoreView


def reference_events(events: list[dict[str, Any]], settings: FleetSettings) -> list[dict[str, Any]]:
    scheduler = SchedulerProcessor(settings, "regime-engine/1.0.0")
    buffer: dict[int, dict[str, Any]] = {}
    engine = EngineProcessor(settings.engine, lambda _p, seq: buffer[seq])
    cuts = {"cuts": StoreView(MemoryStore())}
    hysteresis = {"hysteresis": StoreView(MemoryStore())}
    out = []
    for seq, event in enumerate(events):
        buffered = {"event": event, "correlation_id": ""}
        buffer[seq] = buffered
        for run in scheduler.process(Record("market.buffer", 0, seq, event["symbol"], buffered, {}), cuts, 0):
            rec = Record("engine.runs", 0, 0, run.key, run.value, {})
            out += [o.value for o in engine.process(rec, hysteresis, 0) if o.topic == "engine.results"]
    return out


def decisions(values: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(symbol, engine_timestamp_ms, decision, current, candidate, progress), sorted."""
    rows = []
    for v in values:
        d = v.get("hysteresis_decision")
        if v["event_type"] == "HysteresisDecisionPublished" and d:
            rows.append(
                (
                    v["symbol"],
                    v["engine_timestamp_ms"],
                    d["decision"],
                    d["current_regime"],
                    d["candidate_regime"],
                    d["progress"],
                )
            )
    return sorted(rows)
