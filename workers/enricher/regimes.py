"""A symbol's regime table, folded from regime.events: a versioned history of its decisions,
in engine time, so a signal takes the regime as of its own event time.

Bounded by event time (`enricher.regime_history_ms`: the decisions within that span of the
symbol's latest one, plus the one valid at its start, as Kafka Streams' versioned stores keep
history), or, when that is 0 (the default), by the last `enricher.regime_history` decisions.
Either way, once a decision was let go, a signal older than the kept history is flagged
`REGIME_BEYOND_RETENTION` instead of silently taking UNKNOWN (issue 25): its regime may be
one the table no longer holds.

Which events decide: in truth mode an EngineRunCompleted (its regime_output), in hysteresis
mode a HysteresisDecisionPublished (its current_regime, with the observed confidence). Other
events (Started, Failed, and truth-mode results of a hysteresis engine) change nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN = "UNKNOWN"
BEYOND_RETENTION = "REGIME_BEYOND_RETENTION"  # EnrichedSignalEvent.regime_reason


@dataclass(frozen=True)
class RegimeAsOf:
    regime: str
    confidence: float
    since_ms: int | None  # when this regime began, as far as the table knows
    event_id: str
    offset: int
    reason: str = ""  # why UNKNOWN, when it is not "no decision yet"

    @property
    def known(self) -> bool:
        return self.regime != UNKNOWN


NO_REGIME = RegimeAsOf(UNKNOWN, 0.0, None, "", -1)
BEYOND = RegimeAsOf(UNKNOWN, 0.0, None, "", -1, BEYOND_RETENTION)


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
    # history: [ts_ms, regime, confidence, event_id, offset, since_ms], by ts_ms; "dropped": true
    # once older decisions were let go (set only then: a young table's value is as before)
    return {"history": []}


def record(
    table: Mapping[str, Any], event: Mapping[str, Any], offset: int, keep: int, keep_ms: int = 0
) -> dict[str, Any] | None:
    """The table with this event's decision in it, or None when it decides nothing. `keep_ms`
    > 0 bounds it by event time (and `keep` is not used), else by count."""
    decided = decision(event)
    if decided is None:
        return None
    ts_ms, regime, confidence = decided
    history = table["history"]
    if not history or history[-1][0] < ts_ms:  # in order: the usual case, no re-sort
        since = history[-1][5] if history and history[-1][1] == regime else ts_ms
        rows = [*history, [ts_ms, regime, confidence, event["event_id"], offset, since]]
    else:
        rows = [list(row) for row in history if row[0] != ts_ms]  # a re-decided run replaces
        rows.append([ts_ms, regime, confidence, event["event_id"], offset, ts_ms])
        rows.sort(key=lambda row: row[0])
        for i in range(1, len(rows)):  # a regime's start carries over while it repeats
            rows[i][5] = rows[i - 1][5] if rows[i][1] == rows[i - 1][1] else rows[i][0]
    if not keep_ms:  # the count bound: letting a decision go is flagged as with a time bound
        gone = table.get("dropped") or len(rows) > keep
        return {"history": rows[-keep:], "dropped": True} if gone else {"history": rows}
    drop = bisect_right([row[0] for row in rows], rows[-1][0] - keep_ms) - 1
    if drop <= 0:
        return {**table, "history": rows}
    return {"history": rows[drop:], "dropped": True}


def as_of(table: Mapping[str, Any] | None, ts_ms: int) -> RegimeAsOf:
    """The latest decision at or before `ts_ms`; NO_REGIME when there is none, flagged
    BEYOND_RETENTION when older decisions were let go (it may have been one of them)."""
    table = table or empty()
    for row in reversed(table["history"]):
        if row[0] <= ts_ms:
            return RegimeAsOf(row[1], row[2], row[5], row[3], row[4])
    return BEYOND if table.get("dropped") else NO_REGIME
