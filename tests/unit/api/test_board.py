"""The console's board and timeline cores: one row per symbol from the versioned history, the
regime in effect (a hysteresis decision wins its run's Completed event), since when it holds,
the last decisions; a symbol's timeline with its enriched signals."""

from __future__ import annotations

from typing import Any

from tests.samples import regime_event
from workers.api.board import board, since, timeline
from workers.api.history import VersionedTable, fold_regime_event, fold_signal
from workers.enricher.samples import signal

DAY = 86_400_000


def _fold(table: VersionedTable, events: list[dict[str, Any]]) -> None:
    for offset, event in enumerate(events):
        fold_regime_event(table, event, 0, offset, 1_000 + offset)


def _hysteresis(ts: int, regime: str, symbol: str) -> dict[str, Any]:
    event = regime_event(ts, "RANGE", 0.3, symbol)
    return {
        **event,
        "event_type": "HysteresisDecisionPublished",
        "hysteresis_decision": {"current_regime": regime},
    }


def test_a_row_holds_the_latest_regime_since_when_and_the_last_decisions() -> None:
    table = VersionedTable()
    regimes = ["RANGE", "TREND_UP", "TREND_UP", "TREND_DOWN", "TREND_DOWN", "TREND_DOWN"]
    _fold(table, [regime_event(i * DAY, r, 0.1 * i, "AAA") for i, r in enumerate(regimes)])
    _fold(table, [regime_event(0, "RANGE", 0.5, "BBB")])
    (aaa, bbb) = board(table, recent=4)
    assert (aaa["symbol"], aaa["regime"], aaa["since_ms"]) == ("AAA", "TREND_DOWN", 3 * DAY)
    assert [p["regime"] for p in aaa["recent"]] == ["TREND_UP", "TREND_DOWN", "TREND_DOWN", "TREND_DOWN"]
    assert aaa["engine_timestamp_ms"] == 5 * DAY and aaa["confidence"] == 0.5
    assert (bbb["regime"], bbb["since_ms"], len(bbb["recent"])) == ("RANGE", 0, 1)


def test_a_hysteresis_decision_replaces_its_runs_completed_event() -> None:
    table = VersionedTable()
    _fold(table, [regime_event(DAY, "TREND_UP", 0.9, "AAA"), _hysteresis(DAY, "RANGE", "AAA")])
    (row,) = board(table)
    assert row["regime"] == "RANGE" and row["event_type"] == "HysteresisDecisionPublished"
    assert [p["regime"] for p in row["recent"]] == ["RANGE"]


def test_since_walks_back_over_the_same_regime_only() -> None:
    points = [{"t": t, "regime": r} for t, r in [(1, "A"), (2, "B"), (3, "B")]]
    assert since(points) == 2 and since([]) is None


def test_a_timeline_has_decisions_and_enriched_signals_oldest_first() -> None:
    regimes, signals = VersionedTable(), VersionedTable()
    _fold(regimes, [regime_event(i * DAY, "RANGE", 0.5, "AAA") for i in range(3)])
    for i in (2, 1):
        enriched = {
            "signal": signal("AAA", i * DAY + 5, seq=i),
            "meta_confidence": 0.6,
            "toxicity": 0.1,
            "regime": "RANGE",
            "regime_weight": 0.5,
            "model_version": "v1",
            "halted": False,
        }
        fold_signal(signals, enriched, 0, i, 1)
    found = timeline(regimes, signals, "AAA", limit=2)
    assert [d["t"] for d in found["decisions"]] == [DAY, 2 * DAY]
    assert [s["t"] for s in found["signals"]] == [DAY + 5, 2 * DAY + 5]
    assert timeline(regimes, signals, "NOPE", 10) == {"symbol": "NOPE", "decisions": [], "signals": []}
