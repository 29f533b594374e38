"""Hysteresis mode: durable per-symbol state across kills, restarts, scale-out and lost disks."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections import Counter

import pytest

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.fleet import http_get
from tests.integration.reference import decisions, reference_events

pytestmark = pytest.mark.integration

HYSTERESIS = {"engine__mode": "hysteresis", "engine__progress_required": "2", "runtime__batch_size": "10"}


def _events(days: int = 80) -> list[dict]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _expect(fleet, events):
    want = decisions(reference_events(events, fleet.settings()))
    assert any(row[2] == "SWITCH" for row in want), "the data set should exercise a switch"
    return want


def _published(fleet, n, timeout=120):
    records = fleet.consume("regime.events", n, timeout=timeout)
    keys = Counter((r["value"]["run_id"], r["value"]["event_type"]) for r in records)
    assert max(keys.values()) == 1, "duplicates published"
    return [r["value"] for r in records]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_engine_restart_mid_stream_keeps_hysteresis_progress(fleet_factory, sig):
    fleet = fleet_factory(**HYSTERESIS)
    events = _events()
    want = _expect(fleet, events)
    fleet.start_all()
    fleet.produce("market.raw", events[: len(events) // 2])
    time.sleep(5)
    fleet.stop("engine", sig)
    fleet.produce("market.raw", events[len(events) // 2 :])
    fleet.start("engine")
    got = _published(fleet, 3 * len(want))
    assert decisions(got) == want


def test_lost_local_rocksdb_is_restored_from_the_changelog(fleet_factory):
    fleet = fleet_factory(**HYSTERESIS)
    events = _events()
    want = _expect(fleet, events)
    fleet.start_all()
    fleet.produce("market.raw", events[: len(events) // 2])
    time.sleep(6)
    assert fleet.stop("engine") == 0
    state = fleet.root / "state"
    engine_dirs = [p for p in state.iterdir() if p.name.endswith("regime-fleet.engine")]
    assert engine_dirs, "the engine kept no local state"
    for d in engine_dirs:
        shutil.rmtree(d)
    fleet.produce("market.raw", events[len(events) // 2 :])
    fleet.start("engine")
    assert decisions(_published(fleet, 3 * len(want))) == want
    assert '"full_rebuild": true' in fleet.log("engine")


def test_scale_engine_one_two_one_without_lock_errors_or_duplicates(fleet_factory):
    fleet = fleet_factory(**HYSTERESIS)
    events = _events(days=120)
    want = _expect(fleet, events)
    fleet.start_all()
    third = len(events) // 3
    fleet.produce("market.raw", events[:third])
    time.sleep(4)
    fleet.start("engine", name="engine2")
    fleet.produce("market.raw", events[third : 2 * third])
    time.sleep(8)
    assert fleet.stop("engine2") == 0
    fleet.produce("market.raw", events[2 * third :])
    assert decisions(_published(fleet, 3 * len(want))) == want
    for name in ("engine", "engine2"):
        assert "LOCK" not in fleet.log(name), fleet.log(name)[-2000:]


def test_state_failure_halts_publishing_until_it_clears(fleet_factory, tmp_path):
    fault = tmp_path / "faults"
    fault.write_text("state:*\n")
    fleet = fleet_factory(
        **HYSTERESIS,
        retry__state__max_delay_s="1",
        retry__publish__max_delay_s="1",
        retry__buffer__max_delay_s="1",
    )
    events = _events(days=40)
    want = _expect(fleet, events)
    port = free_port()
    for worker in ("ingest", "scheduler", "publisher"):
        fleet.start(worker)
    fleet.start_faulty("engine", fault_file=fault, runtime__http_port=str(port))
    fleet.produce("market.raw", events)
    time.sleep(12)
    assert fleet.consume("regime.events", 1, timeout=3) == [], "published without persisted state"
    code, _ = http_get(port, "/readyz")
    status = json.loads(http_get(port, "/status")[1])
    assert code == 503 and any(r.startswith("state:") for r in status["pause_reasons"].values())
    fault.unlink()
    got = _published(fleet, 3 * len(want))
    assert decisions(got) == want
    deadline = time.monotonic() + 20
    while http_get(port, "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert http_get(port, "/readyz")[0] == 200


def test_corrupt_changelog_record_is_rebuilt_and_names_where(fleet_factory):
    """Issue 24: a corrupt changelog record is no longer fatal; the engine rebuilds its store
    from engine.runs, says where and what it rebuilt, and publishes everything."""
    fleet = fleet_factory(**HYSTERESIS)
    s = fleet.settings()
    from confluent_kafka import Producer

    from workers import clients

    producer = Producer(clients.producer_config(s, None))
    producer.produce(s.topic("engine.hysteresis.changelog"), b"\xc3\x01garbage", b"SPX", partition=0)
    producer.flush(10)
    events = _events(days=40)
    want = _expect(fleet, events)
    port = free_port()
    for worker in ("ingest", "scheduler", "publisher"):
        fleet.start(worker)
    fleet.start("engine", runtime__http_port=str(port))
    fleet.produce("market.raw", events)
    deadline = time.monotonic() + 60
    status = {}
    while time.monotonic() < deadline:
        try:
            status = json.loads(http_get(port, "/status")[1])
        except OSError:
            status = {}
        if status.get("ready") and "rebuilt" in status.get("last_error", ""):
            break
        time.sleep(0.5)
    assert status.get("lifecycle") == "running" and status.get("ready"), status
    assert (
        "corrupt changelog record at " + s.topic("engine.hysteresis.changelog[0]@0") in status["last_error"]
    )
    assert s.topic("engine.hysteresis.changelog") + ":SPX" in status["last_error"], status["last_error"]
    assert http_get(port, "/readyz")[0] == 200
    assert decisions(_published(fleet, 3 * len(want))) == want
    assert '"event": "store_rebuilt"' in fleet.log("engine")
    assert fleet.stop("engine") == 0
