"""The regime table bounded by event time: a late signal takes the regime valid at its event
time however many decisions came after; one older than what is kept is flagged, never a
silent UNKNOWN; the count bound (regime_history_ms = 0, the default) keeps the last decisions
and flags a signal older than them the same way (issue 25: no silent UNKNOWN by default)."""

from __future__ import annotations

import math

from tests.samples import CountingMetrics, regime_event
from workers.config import load_settings
from workers.enricher import regimes
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import bar_record, signal
from workers.enricher.settings import EnricherSettings
from workers.processing import Edges
from workers.processing.driver import Driver
from workers.topology import load_topology

T0 = 1_600_000_000_000
MINUTE = 60_000
DAY = 1440 * MINUTE


def table_of(keep: int, keep_ms: int, count: int = 200) -> dict:
    table = regimes.empty()
    for i in range(count):
        regime = ("RANGE", "TREND_UP")[i // 10 % 2]
        table = regimes.record(table, regime_event(i * MINUTE, regime, 0.5), i, keep, keep_ms) or table
    return table


def test_a_time_bound_keeps_every_decision_within_it_whatever_their_count():
    table = table_of(keep=32, keep_ms=150 * MINUTE)
    assert len(table["history"]) == 151  # minutes 49..199 (49: the horizon, 199 - 150)
    late = regimes.as_of(table, 55 * MINUTE + 1)
    assert (late.regime, late.offset, late.since_ms, late.reason) == ("TREND_UP", 55, 50 * MINUTE, "")
    assert regimes.as_of(table, 49 * MINUTE).known


def test_older_than_kept_is_flagged_and_not_yet_decided_is_not():
    table = table_of(keep=32, keep_ms=150 * MINUTE)
    beyond = regimes.as_of(table, 47 * MINUTE)
    assert (beyond.regime, beyond.reason) == (regimes.UNKNOWN, regimes.BEYOND_RETENTION)
    fresh = regimes.as_of(table_of(keep=32, keep_ms=10**12, count=5), -1)
    assert fresh == regimes.NO_REGIME and fresh.reason == ""


def test_the_count_bound_keeps_the_last_decisions_and_flags_what_it_let_go():
    table = table_of(keep=32, keep_ms=0)
    assert len(table["history"]) == 32 and table["dropped"] is True
    assert [row[0] for row in table["history"]] == [i * MINUTE for i in range(168, 200)]
    beyond = regimes.as_of(table, 100 * MINUTE)
    assert (beyond.regime, beyond.reason) == (regimes.UNKNOWN, regimes.BEYOND_RETENTION)
    assert regimes.as_of(table, 170 * MINUTE).known
    young = table_of(keep=32, keep_ms=0, count=32)  # nothing let go: before the first decision
    assert "dropped" not in young and regimes.as_of(young, -1) == regimes.NO_REGIME  # is "none yet"


def test_out_of_order_decisions_are_placed_in_engine_time_with_a_time_bound():
    table = regimes.empty()
    for ts, regime in [(1, "RANGE"), (2, "TREND_UP"), (5, "TREND_UP"), (3, "TREND_UP"), (7, "RANGE")]:
        table = regimes.record(table, regime_event(ts, regime, 0.5), ts, keep=1, keep_ms=100) or table
    at_six = regimes.as_of(table, 6)
    assert (at_six.regime, at_six.since_ms, at_six.offset) == ("TREND_UP", 2, 5)


def test_the_default_settings_leave_the_recorded_configuration_as_it_was():
    default = EnricherSettings()
    assert "regime_history_ms" not in default.model_dump()
    bounded = EnricherSettings(regime_history_ms=DAY)
    assert bounded.model_dump()["regime_history_ms"] == DAY
    assert bounded.fingerprint() != default.fingerprint()


def enrich_late_signals(**enricher: int) -> list[dict]:
    settings = load_settings(partitions=1, enricher=enricher)
    d = Driver(load_topology(1))
    d.processors["enricher"] = EnricherProcessor(settings, Edges(reads=d, metrics=CountingMetrics()))
    price = 100.0
    for i in range(30):
        price *= math.exp(0.01 * math.sin(i))
        d.feed("market.buffer", "S", bar_record("S", T0 + i * MINUTE, price, 1000.0), partition=0)
    for day in range(100):  # 100 daily decisions, then signals of the past (a backfill)
        regime = "TREND_UP" if day < 50 else "RANGE"
        d.feed("regime.events", "S", regime_event(T0 + day * DAY, regime, 0.9), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 20 * MINUTE, seq=1, direction=1), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 - MINUTE, seq=2, direction=1), partition=0)
    return [dict(r.value) for r in d.received("signals.enriched")]


def test_a_backfilled_signal_gets_the_regime_of_its_event_time_with_a_time_bound():
    valid, before = enrich_late_signals(regime_history_ms=120 * DAY)
    assert (valid["regime"], valid.get("regime_reason", "")) == ("TREND_UP", "")
    assert (before["regime"], before.get("regime_reason", "")) == ("UNKNOWN", "")  # no decision yet then
    bounded, _ = enrich_late_signals(regime_history_ms=30 * DAY)
    assert (bounded["regime"], bounded["regime_reason"]) == ("UNKNOWN", regimes.BEYOND_RETENTION)
    counted, first = enrich_late_signals()  # the default count bound (32 of the 100 decisions)
    assert (counted["regime"], counted["regime_reason"]) == ("UNKNOWN", regimes.BEYOND_RETENTION)
    assert (first["regime"], first["regime_reason"]) == ("UNKNOWN", regimes.BEYOND_RETENTION)
    assert EnricherSettings().regime_history_ms == 0  # the default is the count bound
