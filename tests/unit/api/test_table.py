"""The regime table: latest decision per symbol, never rolled back by an older event."""

from __future__ import annotations

from tests.samples import result_event
from workers.api.table import RegimeTable


def completed(ts: int, regime: str, symbol: str = "S") -> dict:
    event = result_event(ts, "EngineRunCompleted", symbol)
    event["regime_output"] = {"regime": regime, "confidence": 0.8, "features": {}, "reason_codes": []}
    return event


def test_latest_decision_wins_and_older_ones_do_not_roll_it_back():
    table = RegimeTable()
    assert table.apply(completed(200, "RANGE"), 0, 10)
    assert not table.apply(completed(100, "TREND_UP"), 0, 11)
    assert not table.apply(result_event(300, "EngineRunStarted"), 0, 12)
    decision = table.get("S")
    assert decision is not None
    view = decision.as_dict()
    assert (view["regime"], view["engine_timestamp_ms"], view["offset"]) == ("RANGE", 200, 10)


def test_a_hysteresis_decision_is_the_regime_in_effect():
    table = RegimeTable()
    table.apply(completed(100, "TREND_UP"), 1, 3)
    decision = result_event(100, "HysteresisDecisionPublished")
    decision["hysteresis_decision"] = {
        "decision": "PENDING",
        "current_regime": "RANGE",
        "candidate_regime": "TREND_UP",
        "progress": 1,
        "progress_required": 3,
    }
    assert table.apply(decision, 1, 4)
    view = table.get("S").as_dict()  # type: ignore[union-attr]
    assert view["regime"] == "RANGE" and view["event_type"] == "HysteresisDecisionPublished"


def test_a_symbol_with_only_failures_is_known_without_a_decision():
    table = RegimeTable()
    table.apply(result_event(100, "EngineRunFailed", "F"), 0, 1)
    assert table.known("F") and table.get("F") is None
    assert not table.known("G") and len(table) == 0
