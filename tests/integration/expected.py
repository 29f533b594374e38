"""What the fleet must publish for a list of raw events: the boundary rule, recomputed."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from workers.scheduler.cuts import CutState, on_boundary_record


def expected_runs(events: list[dict[str, Any]], interval_ms: int) -> dict[str, list[int]]:
    """symbol -> engine_timestamp_ms of every run, in order."""
    states: dict[str, CutState] = defaultdict(CutState)
    runs: dict[str, list[int]] = defaultdict(list)
    for e in events:
        state = states[e["symbol"]]
        fire = on_boundary_record(state, e["event_ts_ms"], interval_ms)
        if fire is not None:
            runs[e["symbol"]].append(fire)
            state.last_engine_ts = fire
        state.cut_start = state.cut_start if state.cut_start is not None else 0
    return dict(runs)


def authoritative_view(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Per-symbol (symbol, engine_timestamp_ms, event_type, regime), ignoring offsets and wall clock."""
    out = []
    for r in records:
        v = r["value"]
        regime = v["regime_output"]["regime"] if v["regime_output"] else None
        out.append(
            (
                v["symbol"],
                v["engine_timestamp_ms"],
                v["event_type"],
                regime,
                v["provenance"]["input_hash"],
            )
        )
    return sorted(out)
