"""The four workers end to end on a real broker."""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict

import pytest

from harness.demo.data import index_events
from tests.integration.expected import authoritative_view, expected_runs
from tests.integration.fleet import DAY_MS

pytestmark = pytest.mark.integration


def _events(days: int = 40) -> list[dict]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _check_sequence(records: list[dict], events: list[dict]) -> None:
    want = expected_runs(events, DAY_MS)
    by_symbol: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_symbol[r["value"]["symbol"]].append(r["value"])
    assert set(by_symbol) == set(want)
    for symbol, values in by_symbol.items():
        started = [v["engine_timestamp_ms"] for v in values if v["event_type"] == "EngineRunStarted"]
        assert started == want[symbol], f"{symbol}: runs differ from the boundary rule"
        seen: set[str] = set()
        for v in values:
            if v["event_type"] == "EngineRunStarted":
                seen.add(v["run_id"])
            else:
                assert v["run_id"] in seen, "a Completed/Failed came before its Started"
        ts = [v["engine_timestamp_ms"] for v in values]
        assert ts == sorted(ts), f"{symbol}: not in engine_timestamp_ms order"
        prev = ""
        for v in values:
            assert v["provenance"]["prev_event_hash"] == prev
            prev = v["provenance"]["event_hash"]
    counts = Counter((r["value"]["run_id"], r["value"]["event_type"]) for r in records)
    assert max(counts.values()) == 1, "a (run_id, event_type) was published twice"


def test_events_flow_through_all_four_workers(fleet_factory):
    fleet = fleet_factory()
    events = _events()
    fleet.start_all()
    fleet.produce("market.raw", events)
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    records = fleet.consume("regime.events", 2 * runs, timeout=90)
    assert len(records) == 2 * runs
    _check_sequence(records, events)
    completed = [r for r in records if r["value"]["event_type"] == "EngineRunCompleted"]
    failed = [r["value"]["error"]["code"] for r in records if r["value"]["event_type"] == "EngineRunFailed"]
    assert set(failed) <= {"NO_SNAPSHOT_INPUTS"}  # only days before the first full window
    assert len(completed) + len(failed) == runs and len(completed) > runs / 2
    assert all(0 <= r["value"]["regime_output"]["confidence"] <= 1 for r in completed)
    for name in ("ingest", "scheduler", "engine", "publisher"):
        assert fleet.stop(name) == 0, f"{name} did not drain cleanly:\n{fleet.log(name)[-2000:]}"


@pytest.mark.parametrize("victim", ["engine", "scheduler"])
def test_sigkill_mid_stream_loses_and_duplicates_nothing(fleet_factory, victim):
    events = _events(days=60)
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    fleet = fleet_factory(runtime__batch_size="20")
    fleet.start_all()
    fleet.produce("market.raw", events[: len(events) // 2])
    time.sleep(4)
    fleet.stop(victim, signal.SIGKILL)
    fleet.produce("market.raw", events[len(events) // 2 :])
    time.sleep(2)
    fleet.start(victim)
    records = fleet.consume("regime.events", 2 * runs, timeout=120)
    _check_sequence(records, events)

    clean = fleet_factory()
    clean.start_all()
    clean.produce("market.raw", events)
    reference = clean.consume("regime.events", 2 * runs, timeout=120)
    assert authoritative_view(records) == authoritative_view(reference)


def test_at_least_once_mode_publishes_each_run_once(fleet_factory):
    fleet = fleet_factory(runtime__processing_guarantee="at_least_once")
    events = _events(days=30)
    fleet.start_all()
    fleet.produce("market.raw", events)
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    records = fleet.consume("regime.events", 2 * runs, timeout=90)
    _check_sequence(records, events)
    assert len(records) == 2 * runs
