"""A symbol's regime table, folded from regime.events: the decisions of the last runs, in
engine time, so a signal can take the regime as of its own event time.

Which events decide: in truth mode an EngineRunCompleted (its regime_output), in hysteresis
mode a HysteresisDecisionPublished (its current_regime, with the observed confidence). Other
events (Started, Failed, and truth-mode results of a hysteresis engine) change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class RegimeAsOf:
    regime: str
    confidence: float
    since_ms: int | None  # when this regime began, as far as the table knows
    event_id: str
    offset: int

    @property
    def known(self) -> bool:
        return self.regime != UNKNOWN


NO_REGIME = RegimeAsOf(UNKNOWN, 0.0, None, "", -1)


def decision(event: Mapping[str, Any]) -> tuple[int, str, float] | None:
    """(engine_timestamp_ms, regime, confidence) of a deciding event, else None."""
    output = event.get("regime_output")
    if event["event_type"] == "HysteresisDecisionPublished" and event.get("hysteresis_decision"):
        regime = event["hysteresis_decision"]["current_regime"]
    elif event["event_type"] == "EngineRunCompleted" and event["engine_mode"] == "TRUTH" and output:
        regime = output["regime"]
    else:
        return None
    confidence = float(output["confidence"]) if output else 0.0
    return event["engine_timestamp_ms"], regime, confidence


def empty() -> dict[str, Any]:
    return {"history": []}  # [ts_ms, regime, confidence, event_id, offset, since_ms], by ts_ms


def record(
    table: Mapping[str, Any], event: Mapping[str, Any], offset: int, keep: int
) -> dict[str, Any] | None:
    """The table with this event's decision in it, or None when it decides nothing."""
    decided = decision(event)
    if decided is None:
        return None
    ts_ms, regime, confidence = decided
    rows = [list(row) for row in table["history"] if row[0] != ts_ms]  # a re-decided run replaces
    rows.append([ts_ms, regime, confidence, event["event_id"], offset, ts_ms])
    rows.sort(key=lambda row: row[0])
    for i in range(1, len(rows)):  # a regime's start carries over while it repeats
        rows[i][5] = rows[i - 1][5] if rows[i][1] == rows[i - 1][1] else rows[i][0]
    return {"history": rows[-keep:]}


def as_of(table: Mapping[str, Any] | None, ts_ms: int) -> RegimeAsOf:
    """The latest decision at or before `ts_ms`; NO_REGIME when there is none."""
    for row in reversed((table or empty())["history"]):
        if row[0] <= ts_ms:
            return RegimeAsOf(row[1], row[2], row[5], row[3], row[4])
    return NO_REGIME
