"""Backpressure: a stalled publisher makes the scheduler and then ingest pause; lag stays in
Kafka, memory stays bounded, and everything catches up once the publisher runs again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.demo.data import synthetic_intraday
from harness.launcher import free_port
from tests.integration.expected import expected_runs
from tests.integration.fleet import worker_status

pytestmark = pytest.mark.integration
INTERVAL = 60_000


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _assigned(port: int) -> bool:
    try:
        return bool(worker_status(port)["assignment"])
    except OSError:  # not serving yet
        return False


def test_slow_publisher_pauses_scheduler_and_ingest_then_catches_up(fleet_factory):
    fleet = fleet_factory(
        scheduler__interval_ms=str(INTERVAL),
        scheduler__max_inflight_runs="10",
        ingest__buffer_capacity="500",
        runtime__batch_size="50",
    )
    events = synthetic_intraday(6, 4000, snapshot_every=30, step_ms=2_000)
    runs = sum(len(v) for v in expected_runs(events, INTERVAL).values())
    ports = {"ingest": free_port(), "scheduler": free_port()}
    procs = {w: fleet.start(w, runtime__http_port=str(ports[w])) for w in ("ingest", "scheduler")}
    fleet.start("engine")  # the publisher stays down: the slowest possible downstream
    # Both must have joined first: before the scheduler's group has a position, its lag
    # cannot be measured, and a fast ingest may buffer everything before the first pause.
    joined = time.monotonic() + 60
    while time.monotonic() < joined and not all(_assigned(port) for port in ports.values()):
        time.sleep(0.3)
    fleet.produce("market.raw", events)

    deadline = time.monotonic() + 60
    seen = {"scheduler": False, "ingest": False}
    rss = []
    while time.monotonic() < deadline and not all(seen.values()):
        for w in seen:
            seen[w] = seen[w] or bool(worker_status(ports[w])["backpressure"])
        rss += [_rss_mb(p.pid) for p in procs.values()]
        time.sleep(0.5)
    assert all(seen.values()), f"expected both to pause: {seen}"
    time.sleep(3)
    planned = fleet.consume("engine.runs", 1, timeout=3)
    planned_runs = {r["value"]["run_id"] for r in fleet.consume("engine.runs", len(planned), timeout=3)}
    assert len(planned_runs) < runs, "the scheduler should not have planned everything while paused"
    buffered = len(fleet.consume("market.buffer", 1, timeout=3))
    assert buffered < len(events), "ingest should have stopped short of the whole input"
    assert max(rss) < 400, f"worker memory grew: {max(rss):.0f} MB"
    assert worker_status(ports["scheduler"])["ready"], "backpressure is not a failure: still ready"

    fleet.start("publisher")
    records = fleet.consume("regime.events", 2 * runs, timeout=180)
    assert len(records) == 2 * runs
    assert len(fleet.consume("market.buffer", len(events), timeout=30)) == len(events)
    assert (
        not worker_status(ports["ingest"])["backpressure"]
        and not worker_status(ports["scheduler"])["backpressure"]
    )
