from __future__ import annotations

import pytest

from workers.regime import RegimeOutput
from workers.regime.hysteresis import HysteresisParams, HysteresisState, step
from workers.regime.persistence import HysteresisRecordError, from_record, select_latest, to_record, validate


def _obs(regime: str, confidence: float = 0.9) -> RegimeOutput:
    return RegimeOutput(regime, confidence)


THREE = HysteresisParams(progress_required=3)


def _fold(regimes, params=THREE, confidences=None):
    state, decisions = None, []
    for i, regime in enumerate(regimes):
        conf = confidences[i] if confidences else 0.9
        decision, state = step(
            _obs(regime, conf), state, params, symbol="S", engine_timestamp_ms=i, run_id=f"r{i}"
        )
        decisions.append((decision.decision, decision.current_regime, decision.progress))
    return decisions, state


def test_init_then_switch_after_n_agreeing_runs():
    decisions, state = _fold(["RANGE", "TREND_UP", "TREND_UP", "TREND_UP", "TREND_UP"])
    assert [d[0] for d in decisions] == ["INIT", "PENDING", "PENDING", "SWITCH", "HOLD"]
    assert state.current_regime == "TREND_UP" and state.anchor_ts_ms == 3 and state.progress == 0


def test_disagreement_resets_progress():
    decisions, _ = _fold(["RANGE", "TREND_UP", "TREND_UP", "RANGE", "TREND_UP", "TREND_DOWN"])
    assert decisions == [
        ("INIT", "RANGE", 0),
        ("PENDING", "RANGE", 1),
        ("PENDING", "RANGE", 2),
        ("HOLD", "RANGE", 0),
        ("PENDING", "RANGE", 1),
        ("PENDING", "RANGE", 1),
    ]


def test_confidence_band_weak_candidates_do_not_count():
    params = HysteresisParams(progress_required=2, min_confidence=0.7)
    decisions, state = _fold(["RANGE", "TREND_UP", "TREND_UP", "TREND_UP"], params, [0.9, 0.9, 0.5, 0.9])
    assert [d[0] for d in decisions] == ["INIT", "PENDING", "PENDING", "SWITCH"]
    assert state.current_regime == "TREND_UP"


def test_progress_required_one_switches_immediately():
    decisions, _ = _fold(["RANGE", "TREND_DOWN"], HysteresisParams(progress_required=1))
    assert decisions[1][0] == "SWITCH"


def test_record_round_trip():
    state = HysteresisState("S", "RANGE", "TREND_UP", 2, 3, 10, 20, "r")
    record = to_record(state)
    assert record["schema"] == "hysteresis_store_record" and record["schema_version"] == "1"
    assert from_record(record) == state


@pytest.mark.parametrize(
    "change",
    [
        {"schema": "other"},
        {"schema_version": "2"},
        {"current_regime": "BULL"},
        {"candidate_regime": "BEAR"},
        {"progress": 3},
        {"progress": -1},
        {"progress_required": 0},
        {"candidate_regime": None},
        {"symbol": ""},
    ],
)
def test_validation_rejects_malformed_records(change):
    record = {**to_record(HysteresisState("S", "RANGE", "TREND_UP", 1, 3, 0, 5, "r")), **change}
    with pytest.raises(HysteresisRecordError):
        validate(record)
    with pytest.raises(HysteresisRecordError):  # deterministic: same input, same verdict
        validate(record)


def test_restore_selects_latest_per_symbol_ties_by_changelog_order():
    def rec(symbol, ts, regime):
        return to_record(HysteresisState(symbol, regime, None, 0, 3, ts, ts, f"{symbol}{ts}{regime}"))

    latest, skipped = select_latest(
        [
            rec("A", 5, "RANGE"),
            rec("A", 9, "TREND_UP"),
            rec("A", 7, "TREND_DOWN"),
            rec("B", 3, "RANGE"),
            rec("B", 3, "HIGH_VOLATILITY"),
        ]
    )
    assert latest["A"]["current_regime"] == "TREND_UP"
    assert latest["B"]["current_regime"] == "HIGH_VOLATILITY"
    assert skipped == 1
