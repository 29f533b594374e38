"""Slots: a process holds one lock file per worker identity for its life; the lowest free one
by default, or exactly one (runtime.slot) that a warm standby waits for. A standing-by worker
is not ready, except to the pair's probe (`/readyz?standby=ok`)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from workers import clients
from workers.config import load_settings
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics
from workers.topology import load_topology


def test_slots_are_the_lowest_free_and_a_held_one_is_refused(tmp_path: Path) -> None:
    settings = load_settings(runtime={"state_dir": tmp_path})
    assert clients.slot(settings, "engine") == 0
    assert clients.slot(settings, "engine") == 1  # each open lock is another holder, even in one process
    assert not clients.take_slot(settings, "engine", 0)
    assert clients.slot_holder(settings, "engine", 0) == str(os.getpid())
    assert clients.take_slot(settings, "engine", 5) and clients.slot(settings, "engine") == 2
    assert clients.slot(settings, "scheduler") == 0  # per worker


def test_a_pinned_slot_is_a_static_member_and_names_the_transactional_id(tmp_path: Path) -> None:
    pinned = load_settings(runtime={"state_dir": tmp_path, "slot": 0, "instance_id": "pod-a"})
    free = load_settings(runtime={"state_dir": tmp_path, "instance_id": "pod-a"})
    assert clients.worker_membership(pinned, 0) == {"group.instance.id": "pod-a-0"}
    assert clients.worker_membership(free, 0) == {}  # static membership is opt-in otherwise
    assert clients.transactional_id(pinned, "engine", 0).endswith("engine-pod-a-0")


def test_a_worker_consumer_takes_its_fetch_batching_from_the_topology(tmp_path: Path) -> None:
    settings = load_settings(runtime={"state_dir": tmp_path, "slot": 0, "instance_id": "pod-a"})
    topology = load_topology(settings.partitions)
    conf = {
        w: clients.worker_consumer_config(settings, settings.group(w), 0, topology.worker(w).fetch_min_bytes)
        for w in ("ingest", "scheduler")
    }
    assert conf["ingest"]["fetch.min.bytes"] == 65536 and conf["scheduler"]["fetch.min.bytes"] == 1
    assert all(c["fetch.wait.max.ms"] == 25 for c in conf.values())  # what bounds the wait
    assert conf["ingest"]["group.instance.id"] == "pod-a-0"
    at_least_once = load_settings(runtime={"state_dir": tmp_path, "processing_guarantee": "at_least_once"})
    assert clients.worker_consumer_config(at_least_once, "g", 0, 65536)["fetch.min.bytes"] == 1


def _get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_a_standby_is_ready_only_to_the_pairs_probe() -> None:
    status = WorkerStatus("engine", "g", WorkerMetrics())
    server = serve(status, 0, "127.0.0.1")
    port = server.server_address[1]
    try:
        status.set_lifecycle("standby")
        assert (_get(port, "/readyz"), _get(port, "/readyz?standby=ok")) == (503, 200)
        status.set_lifecycle("degraded")
        assert _get(port, "/readyz?standby=ok") == 503
        status.set_lifecycle("running")
        assert (_get(port, "/readyz"), _get(port, "/readyz?standby=ok")) == (200, 200)
    finally:
        server.shutdown()
