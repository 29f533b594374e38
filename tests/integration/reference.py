"""What a broker-backed fleet must publish: the fleet's pure cores chained in memory (the
same runner `replay --topic market.raw` uses).

Positions here are list indexes, so run_ids and cut bounds differ from a real fleet's (whose
offsets include transaction markers); symbols, engine timestamps, regimes and hysteresis
decisions must not.
"""

from __future__ import annotations

from typing import Any

from workers.config import FleetSettings
from workers.replay.pipeline import run_in_memory
from workers.runtime.reader import Stored


def reference_events(events: list[dict[str, Any]], settings: FleetSettings) -> list[dict[str, Any]]:
    stored = [Stored(0, i, e["symbol"], e, {}) for i, e in enumerate(events)]
    return run_in_memory(settings, "market.raw", stored)


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
