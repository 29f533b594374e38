"""KIP-848 (`runtime.group_protocol=consumer`) on the real broker: the server-side range
assignor gives two members of one group co-partitioned inputs, once the group is stable (why
the runtime may use it for single-input workers, docs/reliability.md "Failover levers")."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from workers import clients
from workers.config import FleetSettings

pytestmark = pytest.mark.integration


def _settings(bootstrap: str) -> FleetSettings:
    return FleetSettings(kafka={"bootstrap_servers": bootstrap}, runtime={"group_protocol": "consumer"})


def test_the_consumer_protocol_with_the_range_assignor_co_partitions_two_inputs(kafka_bootstrap):
    s = _settings(kafka_bootstrap)
    prefix = f"t{uuid.uuid4().hex[:8]}."
    topics = [f"{prefix}a", f"{prefix}b"]
    admin = AdminClient(clients.base_config(s))
    for f in admin.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
        f.result(30)
    conf = clients.consumer_config(s, f"{prefix}group")
    assert conf["group.protocol"] == "consumer" and conf["group.remote.assignor"] == "range"
    assert "session.timeout.ms" not in conf and "partition.assignment.strategy" not in conf
    members = [Consumer(conf), Consumer(conf)]
    try:
        for m in members:
            m.subscribe(topics)
        # Stable: every partition of both topics owned and the assignment unchanged for 5 s.
        deadline, last, since = time.monotonic() + 90, None, time.monotonic()
        owned: list[dict[str, frozenset[int]]] = []
        while time.monotonic() < deadline:
            for m in members:
                m.poll(0.2)
            owned = [
                {t: frozenset(tp.partition for tp in m.assignment() if tp.topic == t) for t in topics}
                for m in members
            ]
            if owned != last:
                last, since = owned, time.monotonic()
            complete = all(sum(len(o[t]) for o in owned) == 4 for t in topics) and all(
                o[topics[0]] for o in owned
            )
            if complete and time.monotonic() - since >= 5:
                break
        else:
            pytest.fail(f"the group never settled: {owned}")
        for o in owned:  # each member holds the same partition numbers of both inputs
            assert o[topics[0]] == o[topics[1]], owned
    finally:
        for m in members:
            m.close()
        for f in admin.delete_topics(topics).values():
            f.result(30)
