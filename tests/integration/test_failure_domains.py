"""One test per failure domain, faults injected by the tests' injector (tests/faults.py) into
real worker processes, never by mocks."""

from __future__ import annotations

import time

import pytest

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS, worker_status

pytestmark = pytest.mark.integration


def _events(days=30):
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:  # the worker's HTTP server is not up yet
            pass
        time.sleep(0.3)
    return False


def test_engine_fault_publishes_failed_runs_and_processing_continues(fleet_factory):
    fleet = fleet_factory()
    events = _events()
    runs = expected_runs(events, DAY_MS)
    for w in ("ingest", "scheduler", "publisher"):
        fleet.start(w)
    fleet.start_faulty("engine", fail_symbols=["NDX"])
    fleet.produce("market.raw", events)
    records = fleet.consume("regime.events", 2 * sum(len(v) for v in runs.values()), timeout=90)
    by_symbol = {s: [r["value"] for r in records if r["value"]["symbol"] == s] for s in runs}
    assert {v["event_type"] for v in by_symbol["NDX"]} == {"EngineRunStarted", "EngineRunFailed"}
    assert all(
        v["error"]["code"] == "INJECTED_FAULT" and v["error"]["attempts"] == 3
        for v in by_symbol["NDX"]
        if v["error"]
    )
    assert {v["event_type"] for v in by_symbol["SPX"]} == {"EngineRunStarted", "EngineRunCompleted"}


@pytest.mark.parametrize(("worker", "degrades"), [("ingest", True), ("publisher", False)])
def test_output_failure_pauses_then_recovers_by_itself(fleet_factory, tmp_path, worker, degrades):
    fault = tmp_path / "faults"
    fault.write_text("produce:*\n")
    fleet = fleet_factory(
        retry__state__max_delay_s="1", retry__publish__max_delay_s="1", retry__buffer__max_delay_s="1"
    )
    port = free_port()
    for w in ("ingest", "scheduler", "engine", "publisher"):
        if w == worker:
            fleet.start_faulty(w, fault_file=fault, runtime__http_port=str(port))
        else:
            fleet.start(w)
    events = _events()
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    fleet.produce("market.raw", events)
    assert _wait(lambda: bool(worker_status(port)["pause_reasons"])), "the worker did not pause"
    status = worker_status(port)
    assert not status["ready"]
    assert (status["lifecycle"] == "degraded") == degrades
    assert fleet.consume("regime.events", 1, timeout=3) == []
    fault.unlink()
    records = fleet.consume("regime.events", 2 * runs, timeout=120)
    assert len(records) == 2 * runs, "did not catch up after the fault cleared"
    assert _wait(lambda: worker_status(port)["ready"] and worker_status(port)["lifecycle"] == "running")
