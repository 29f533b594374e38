"""Regime weight (bounded, monotone in confidence) and the regime table (as of event time)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.samples import regime_event
from workers.enricher import regimes
from workers.enricher.settings import REGIMES, EnricherSettings
from workers.enricher.weights import regime_weight

BASES = EnricherSettings().regime_weights


@given(
    regime=st.sampled_from(REGIMES),
    direction=st.sampled_from([-1, 0, 1]),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
)
def test_weight_is_in_unit_range_and_never_rises_with_confidence(
    regime: str, direction: int, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    at_low = regime_weight(regime, low, direction, BASES, 0.5)
    at_high = regime_weight(regime, high, direction, BASES, 0.5)
    assert 0.0 <= at_high <= at_low <= 1.0


def test_weight_at_the_ends_and_for_unknown() -> None:
    assert regime_weight("TREND_DOWN", 1.0, 1, BASES, 0.5) == 0.3  # long against a sure downtrend
    assert regime_weight("TREND_DOWN", 0.0, 1, BASES, 0.5) == 1.0  # a regime nobody is sure of
    assert regime_weight("TREND_DOWN", 1.0, -1, BASES, 0.5) == 1.0
    assert regime_weight("RANGE", 1.0, 0, BASES, 0.5) == 1.0  # flat signals are not sized
    assert regime_weight(None, 1.0, 1, BASES, 0.42) == 0.42


def test_the_table_answers_as_of_event_time_and_tracks_when_a_regime_began() -> None:
    table = regimes.empty()
    # Out of order on purpose: minute 3 arrives after minute 5.
    for ts, regime in [(1, "RANGE"), (2, "TREND_UP"), (5, "TREND_UP"), (3, "TREND_UP"), (7, "RANGE")]:
        table = regimes.record(table, regime_event(ts, regime, 0.5), offset=ts, keep=10) or table
    assert regimes.as_of(table, 0) == regimes.NO_REGIME
    assert regimes.as_of(table, 1).regime == "RANGE"
    at_six = regimes.as_of(table, 6)
    assert (at_six.regime, at_six.since_ms, at_six.offset) == ("TREND_UP", 2, 5)
    assert regimes.as_of(table, 7).since_ms == 7
    assert len(regimes.record(table, regime_event(9, "RANGE", 0.5), 9, keep=3)["history"]) == 3


def test_only_deciding_events_enter_the_table() -> None:
    started = {**regime_event(1, "RANGE", 0.5), "event_type": "EngineRunStarted"}
    hysteresis = {**regime_event(2, "RANGE", 0.5), "engine_mode": "HYSTERESIS"}
    assert regimes.record(regimes.empty(), started, 0, keep=5) is None
    assert regimes.record(regimes.empty(), hysteresis, 0, keep=5) is None  # its decision event counts
    decided = {
        **hysteresis,
        "event_type": "HysteresisDecisionPublished",
        "hysteresis_decision": {"decision": "HOLD", "current_regime": "TREND_UP"},
    }
    table = regimes.record(regimes.empty(), decided, 0, keep=5)
    assert table is not None and regimes.as_of(table, 2).regime == "TREND_UP"
