"""A warm standby (runtime.slot): a second process of the same identity waits, imported and
not ready, while the first holds the slot; a SIGKILL of the first hands it the slot, the
transactional.id and the static group membership, and the stream goes on with nothing lost or
written twice. And a consumer fenced by another member of its group.instance.id is replaced.
(make chaos's sigkill-standby does the same for every worker of the pipeline.)"""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.fleet import Fleet, worker_status
from workers import clients
from workers.topology import load_topology

pytestmark = pytest.mark.integration


def _events() -> list[dict[str, Any]]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=40, window=20)]


def _status(port: int) -> dict[str, Any]:
    try:
        return worker_status(port)
    except OSError:  # not serving yet
        return {}


def _wait(port: int, ok: Any, what: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _status(port)
        if status and ok(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout_s} s; last /status: {_status(port)}")


def _running(port: int, what: str) -> None:
    _wait(port, lambda s: s["ready"] and s["assignment"], what)


def _buffered_once(fleet: Fleet, events: list[dict[str, Any]]) -> None:
    """Every event on market.buffer exactly once (read_committed)."""
    records = fleet.consume("market.buffer", len(events), timeout=90)
    ids = Counter(r["value"]["event"]["event_id"] for r in records)
    assert len(records) == len(events) and set(ids) == {e["event_id"] for e in events}, (
        f"{len(records)} buffered for {len(events)} events; twice: {[i for i, n in ids.items() if n > 1][:5]}"
    )


def test_standby_waits_then_takes_over_a_killed_ingest(fleet_factory):
    events = _events()
    fleet = fleet_factory(runtime__batch_size="20")
    primary, standby = free_port(), free_port()
    fleet.start("ingest", runtime__slot="0", runtime__http_port=str(primary))
    _running(primary, "the ingest running")
    fleet.start("ingest", "ingest-standby", runtime__slot="0", runtime__http_port=str(standby))
    waiting = _wait(standby, lambda s: s["lifecycle"] == "standby", "the second ingest standing by")
    assert not waiting["ready"] and not waiting["assignment"]
    assert "warm standby for slot 0" in waiting["pause_reasons"]["standby"]

    fleet.produce("market.raw", events[: len(events) // 2])
    time.sleep(1)
    killed = time.monotonic()
    fleet.stop("ingest", signal.SIGKILL)
    _running(standby, "the standby taking over")
    print(f"standby ready {time.monotonic() - killed:.1f} s after the SIGKILL")
    fleet.produce("market.raw", events[len(events) // 2 :])
    _buffered_once(fleet, events)
    assert "standby_promoted" in fleet.log("ingest-standby")


def test_a_fenced_static_consumer_is_replaced_and_the_stream_completes(fleet_factory):
    """Another member joining with the worker's group.instance.id fences its consumer (the
    fatal error a coordinator move can cause): the worker replaces the consumer and goes on."""
    events = _events()
    fleet = fleet_factory(runtime__static_membership="true")
    port = free_port()
    fleet.start("ingest", runtime__http_port=str(port))
    _running(port, "the ingest running")
    fleet.produce("market.raw", events[: len(events) // 2])

    s = fleet.settings()
    inputs = [s.topic(t) for t in load_topology(s.partitions).worker("ingest").inputs]
    member = {"group.instance.id": f"{s.runtime.instance_id}-0"}
    impostor = Consumer(clients.consumer_config(s, s.group("ingest"), **member))
    impostor.subscribe(inputs)
    deadline = time.monotonic() + 30
    while not impostor.assignment() and time.monotonic() < deadline:
        impostor.poll(0.2)
    assert impostor.assignment(), "the impostor never joined"
    impostor.close()

    fleet.produce("market.raw", events[len(events) // 2 :])
    _buffered_once(fleet, events)
    assert "consumer_replaced" in fleet.log("ingest")
