"""Self-healing state: a corrupt changelog record, or a lost state dir together with a deleted
and recreated changelog, is rebuilt from the worker's own input topics; the worker says where
and what it rebuilt, and the output equals an uninterrupted reference, nothing lost or twice."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.fleet import http_get
from tests.integration.reference import decisions, reference_events
from workers import clients
from workers.runtime.admin import delete_topics

pytestmark = pytest.mark.integration

HYSTERESIS = {"engine__mode": "hysteresis", "engine__progress_required": "2", "runtime__batch_size": "10"}


def _events(days: int = 80) -> list[dict]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _published_once(fleet, n, timeout=150):
    records = fleet.consume("regime.events", n, timeout=timeout)
    keys = Counter((r["value"]["run_id"], r["value"]["event_type"]) for r in records)
    assert keys and max(keys.values()) == 1, "duplicates published"
    return [r["value"] for r in records]


def _chains_link(events):
    """Per symbol, in publication order, every event names its predecessor's hash."""
    last: dict[str, str] = defaultdict(str)
    for e in events:
        prov = e["provenance"]
        assert prov["prev_event_hash"] == last[e["symbol"]], (
            f"chain broken at {e['symbol']} {e['event_type']}"
        )
        last[e["symbol"]] = prov["event_hash"]


def _partition_of(settings, topic: str, key: str) -> int:
    """Where the fleet keeps `key` in `topic`: the partition of its newest record."""
    c = Consumer(clients.reader_config(settings))
    try:
        found = -1
        for p in range(settings.partitions):
            c.assign([TopicPartition(topic, p, 0)])
            for msg in c.consume(10_000, timeout=3):
                if msg.error() is None and msg.key() == key.encode():
                    found = p
            c.unassign()
        assert found >= 0, f"no record keyed {key} in {topic}"
        return found
    finally:
        c.close()


def _wait_status(port, until, timeout=60):
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            status = json.loads(http_get(port, "/status")[1])
        except OSError:
            status = {}
        seen.append(status)
        if until(status):
            return status, seen
        time.sleep(0.2)
    raise AssertionError(f"status never reached the condition; last: {seen[-1] if seen else None}")


def test_a_corrupt_changelog_record_is_rebuilt_from_the_inputs(fleet_factory):
    fleet = fleet_factory(**HYSTERESIS)
    s = fleet.settings()
    events = _events()
    want = decisions(reference_events(events, s))
    fleet.start_all()
    fleet.produce("market.raw", events[: len(events) // 2])
    assert len(fleet.consume("regime.events", 30, timeout=90)) >= 30, "the fleet never published"
    assert fleet.stop("engine") == 0
    changelog = s.topic("engine.hysteresis.changelog")
    partition = _partition_of(s, changelog, "SPX")
    producer = Producer(clients.producer_config(s, None))
    corrupt_at: list[int] = []
    producer.produce(
        changelog,
        b"\xc3\x01garbage",
        b"SPX",
        partition=partition,
        on_delivery=lambda e, m: corrupt_at.append(m.offset()),
    )
    producer.flush(10)
    fleet.produce("market.raw", events[len(events) // 2 :])
    port = free_port()
    fleet.start("engine", runtime__http_port=str(port))
    status, seen = _wait_status(port, lambda st: "rebuilt" in st.get("last_error", "") and st.get("ready"))
    where = f"{changelog}[{partition}]@{corrupt_at[0]}"
    assert where in status["last_error"], status["last_error"]
    assert "engine.runs" in status["last_error"] and f"{changelog}:SPX" in status["last_error"]
    assert any(
        "rebuilding" in st.get("pause_reasons", {}) for st in seen
    ) or "store_rebuild_started" in fleet.log("engine")
    got = _published_once(fleet, 3 * len(want))
    assert decisions(got) == want
    _chains_link(got)


def test_a_lost_state_dir_and_a_recreated_changelog_are_rebuilt_from_the_inputs(fleet_factory):
    fleet = fleet_factory(**HYSTERESIS)
    s = fleet.settings()
    events = _events()
    want = decisions(reference_events(events, s))
    fleet.start_all()
    fleet.produce("market.raw", events[: len(events) // 2])
    assert len(fleet.consume("regime.events", 30, timeout=90)) >= 30, "the fleet never published"
    assert fleet.stop("publisher") == 0
    dirs = [p for p in (fleet.root / "state").iterdir() if p.name.endswith("regime-fleet.publisher")]
    assert dirs, "the publisher kept no local state"
    for d in dirs:
        shutil.rmtree(d)
    delete_topics(s, [s.topic("publisher.chain.changelog")])
    time.sleep(2)
    fleet.create_topics()
    fleet.produce("market.raw", events[len(events) // 2 :])
    port = free_port()
    fleet.start("publisher", runtime__http_port=str(port))
    status, _ = _wait_status(port, lambda st: "rebuilt" in st.get("last_error", "") and st.get("ready"))
    assert "no changelog record" in status["last_error"] and "engine.results" in status["last_error"]
    got = _published_once(fleet, 3 * len(want))
    assert decisions(got) == want
    _chains_link(got)  # an empty chain would restart every symbol's hashes from ""
    assert fleet.stop("publisher") == 0
    # The rebuilt chain went back to the changelog: a second lost state dir restores, no rebuild.
    for d in [p for p in (fleet.root / "state").iterdir() if p.name.endswith("regime-fleet.publisher")]:
        shutil.rmtree(d)
    fleet.start("publisher", name="publisher2", runtime__http_port=str(port))
    _wait_status(port, lambda st: st.get("ready"))
    assert "store_rebuild_started" not in fleet.log("publisher2")
    assert fleet.stop("publisher2") == 0
    # On demand, the changelog now agrees with a rebuild from engine.results, key for key.
    cli = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "state", "rebuild", "--worker", "publisher"],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    reports = [json.loads(line) for line in cli.stdout.splitlines()]
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert {r["partition"] for r in reports} == {0, 1}
    assert all(r["mismatched"] == [] and r["corrupt_or_missing"] == [] for r in reports), reports
    assert sum(r["keys"] for r in reports) == 2  # SPX and NDX
