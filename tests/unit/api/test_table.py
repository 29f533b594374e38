"""The tables: latest decision and latest enriched signal per symbol, never rolled back by an
older event."""

from __future__ import annotations

from tests.samples import result_event
from workers.api.table import RegimeTable, SignalTable
from workers.enricher.samples import signal


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


def enriched(ts: int, seq: int, symbol: str = "S") -> dict:
    return {"signal": signal(symbol, ts, seq=seq), "meta_confidence": 0.6, "toxicity": 0.2}


def test_the_latest_signal_by_signal_time_and_a_late_one_does_not_roll_it_back():
    table = SignalTable()
    assert table.apply(enriched(200, 1), 1, 10)
    assert not table.apply(enriched(100, 2), 1, 11)  # late: enriched after, signalled before
    assert table.apply(enriched(200, 3), 1, 12)  # same signal time: the later record
    assert table.apply(enriched(50, 1, "T"), 0, 3)
    latest = table.get("S")
    assert latest is not None and len(table) == 2 and table.get("U") is None
    view = latest.as_dict()
    assert (view["signal"]["signal_id"], view["partition"], view["offset"]) == ("S-sig-3", 1, 12)
