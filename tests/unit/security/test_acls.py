"""The ACL derivation: exact grants per worker, prefixes, shared principals, drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workers.config import FleetSettings
from workers.security.acls import (
    Acl,
    acls_for,
    api_needs,
    drift,
    kafka_acls_commands,
    plan,
    principal_for,
    worker_needs,
)
from workers.topology import load_topology, topology_path

PER_WORKER = principal_for("User:regime-fleet-{worker}")


@pytest.fixture
def topology():
    return load_topology(2)


def _ops(acls: list[Acl], resource_type: str, name: str) -> set[str]:
    return {a.operation for a in acls if a.resource_type == resource_type and a.name == name}


def test_ingest_gets_exactly_what_it_uses(topology):
    acls = acls_for(worker_needs(topology.worker("ingest")), "User:i", "p.")
    assert {a.principal for a in acls} == {"User:i"}
    assert _ops(acls, "TOPIC", "p.market.raw") == {"READ", "DESCRIBE", "DESCRIBE_CONFIGS"}
    # Output and direct read (the dedupe window is rebuilt from the buffer's tail).
    assert _ops(acls, "TOPIC", "p.market.buffer") == {"READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"}
    assert _ops(acls, "TOPIC", "p.market.raw.dlq") == {"WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"}
    assert _ops(acls, "TOPIC", "p.fleet.config") == {"WRITE", "DESCRIBE"}
    # Every worker's runtime: the operators' commands in, its heartbeat out.
    assert _ops(acls, "TOPIC", "p.fleet.control") == {"READ", "DESCRIBE"}
    assert _ops(acls, "TOPIC", "p.fleet.heartbeats") == {"WRITE", "DESCRIBE"}
    assert _ops(acls, "GROUP", "p.regime-fleet.ingest") == {"READ"}
    assert _ops(acls, "GROUP", "p.regime-fleet.reader") == {"DESCRIBE"}
    # Backpressure reads the scheduler's committed offsets, never joins its group.
    assert _ops(acls, "GROUP", "p.regime-fleet.scheduler") == {"DESCRIBE"}
    txn = [a for a in acls if a.resource_type == "TRANSACTIONAL_ID"]
    assert {(a.pattern, a.name, a.operation) for a in txn} == {
        ("PREFIXED", "p.regime-fleet.ingest-", "WRITE"),
        ("PREFIXED", "p.regime-fleet.ingest-", "DESCRIBE"),
    }
    touched = {a.name for a in acls if a.resource_type == "TOPIC"}
    assert touched == {
        "p.market.raw",
        "p.market.buffer",
        "p.market.raw.dlq",
        "p.fleet.config",
        "p.fleet.control",
        "p.fleet.heartbeats",
    }


def test_no_worker_may_create_alter_or_touch_the_cluster(topology):
    acls = plan(topology, "", PER_WORKER, only=list(topology.workers))
    assert {a.operation for a in acls} <= {"READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"}
    assert {a.resource_type for a in acls} == {"TOPIC", "GROUP", "TRANSACTIONAL_ID"}
    assert all(a.host == "*" and a.pattern in ("LITERAL", "PREFIXED") for a in acls)


@pytest.mark.parametrize("worker", ["scheduler", "engine", "publisher", "enricher"])
def test_every_declared_topic_and_changelog_is_granted_and_nothing_more(topology, worker):
    spec = topology.worker(worker)
    acls = acls_for(worker_needs(spec), "User:w", "")
    for topic in {*spec.inputs, *spec.reads, *spec.stores.values()}:
        assert {"READ", "DESCRIBE_CONFIGS"} <= _ops(acls, "TOPIC", topic), topic
    for topic in {*spec.outputs, *spec.stores.values()}:
        assert "WRITE" in _ops(acls, "TOPIC", topic), topic
    readable = {a.name for a in acls if a.operation == "READ" and a.resource_type == "TOPIC"}
    writable = {a.name for a in acls if a.operation == "WRITE"}
    assert readable == {*spec.inputs, *spec.reads, *spec.stores.values(), "fleet.control"}
    fleet = {"fleet.config", "fleet.heartbeats", f"regime-fleet.{worker}-"}
    assert writable - fleet == {*spec.outputs, *spec.stores.values()}


def test_the_transactional_prefix_covers_the_runtime_transactional_id(topology, tmp_path):
    from workers.clients import transactional_id

    settings = FleetSettings(topic_prefix="t1.", runtime={"state_dir": tmp_path, "instance_id": "pod-0"})
    txn = [
        a
        for a in acls_for(worker_needs(topology.worker("engine")), "User:e", "t1.")
        if a.pattern == "PREFIXED"
    ]
    assert {a.name for a in txn} == {"t1.regime-fleet.engine-"}
    assert transactional_id(settings, "engine").startswith("t1.regime-fleet.engine-")
    assert not transactional_id(settings, "enricher").startswith("t1.regime-fleet.engine-")


def test_at_least_once_needs_no_transactional_id(topology):
    acls = plan(topology, "", PER_WORKER, eos=False)
    assert not [a for a in acls if a.resource_type == "TRANSACTIONAL_ID"]


def test_the_prefix_reaches_every_resource(topology):
    acls = plan(topology, "blue.", PER_WORKER)
    assert all(a.name.startswith("blue.") for a in acls)
    assert plan(topology, "", PER_WORKER) == sorted(
        Acl(a.principal, a.resource_type, a.pattern, a.name.removeprefix("blue."), a.operation) for a in acls
    )


def test_a_shared_principal_gets_the_union_once(topology):
    separate = plan(topology, "", PER_WORKER)
    shared = plan(topology, "", principal_for("User:regime-fleet"))
    assert {a.principal for a in shared} == {"User:regime-fleet"}
    assert len(shared) == len(set(shared))
    assert {(a.resource_type, a.name, a.operation) for a in shared} == {
        (a.resource_type, a.name, a.operation) for a in separate
    }
    with pytest.raises(ValueError, match="User:"):
        principal_for("regime-fleet-{worker}")


def test_the_api_and_the_topic_job_are_planned_too(topology):
    acls = plan(topology, "", PER_WORKER, only=["api", "topics"])
    api = [a for a in acls if a.principal == "User:regime-fleet-api"]
    assert _ops(api, "TOPIC", "market.raw") == {"READ", "WRITE", "DESCRIBE"}  # admissions, replays
    assert _ops(api, "TOPIC", "regime.events") == {"READ", "DESCRIBE"}
    assert _ops(api, "GROUP", "regime-fleet.ingest") == {"DESCRIBE"}  # its 429 backpressure
    # The control plane: commands out, heartbeats and every worker's group and offsets in.
    assert _ops(api, "TOPIC", "fleet.control") == {"READ", "WRITE", "DESCRIBE"}
    assert _ops(api, "TOPIC", "fleet.heartbeats") == {"READ", "DESCRIBE"}
    for worker, spec in topology.workers.items():
        assert _ops(api, "GROUP", f"regime-fleet.{worker}") == {"DESCRIBE"}, worker
        assert all("DESCRIBE" in _ops(api, "TOPIC", t) for t in spec.inputs), worker
    assert not [a for a in api if a.resource_type == "TRANSACTIONAL_ID"]
    assert api_needs(topology).group is None  # group-less: it never joins or commits
    topics = [a for a in acls if a.principal == "User:regime-fleet-topics"]
    assert {a.name for a in topics if a.operation == "CREATE"} == set(topology.topics)


def test_a_worker_added_to_the_topology_gets_its_acls_without_code(tmp_path):
    raw = yaml.safe_load(topology_path().read_text())
    raw["topics"]["labels.new"] = {"partitions": "pipeline", "cleanup_policy": "delete", "value_schema": None}
    raw["topics"]["newcomer.state.changelog"] = {"partitions": "pipeline", "cleanup_policy": "compact"}
    raw["workers"]["newcomer"] = {
        "inputs": ["regime.events"],
        "outputs": ["labels.new", "fleet.dlq"],
        "stores": {"state": "newcomer.state.changelog"},
        "dead_letter": "fleet.dlq",
    }
    path = Path(tmp_path / "fleet.yaml")
    path.write_text(yaml.safe_dump(raw))
    acls = plan(load_topology(2, path), "", PER_WORKER, only=["newcomer"])
    assert _ops(acls, "TOPIC", "regime.events") == {"READ", "DESCRIBE", "DESCRIBE_CONFIGS"}
    assert "WRITE" in _ops(acls, "TOPIC", "labels.new")
    assert {"READ", "WRITE"} <= _ops(acls, "TOPIC", "newcomer.state.changelog")
    assert _ops(acls, "GROUP", "regime-fleet.newcomer") == {"READ"}


def test_drift_names_missing_and_extra_acls_of_the_planned_principals_under_the_prefix():
    a = Acl("User:x", "TOPIC", "LITERAL", "p.t", "READ")
    b = Acl("User:x", "TOPIC", "LITERAL", "p.t", "WRITE")
    other_fleet = Acl("User:x", "TOPIC", "LITERAL", "q.t", "WRITE")
    other_principal = Acl("User:y", "TOPIC", "LITERAL", "p.t", "WRITE")
    found = drift([a], [b, other_fleet, other_principal], prefix="p.")
    assert found.missing == [a] and found.extra == [b] and not found.clean
    assert drift([a], [a, other_fleet], prefix="p.").clean


def test_plan_prints_kafka_acls_commands_grouped_by_resource():
    acls = [
        Acl("User:x", "TOPIC", "LITERAL", "t", "READ"),
        Acl("User:x", "TOPIC", "LITERAL", "t", "DESCRIBE"),
        Acl("User:x", "TRANSACTIONAL_ID", "PREFIXED", "g-", "WRITE"),
    ]
    lines = kafka_acls_commands(acls, "b:9093")
    assert lines == [
        "kafka-acls.sh --bootstrap-server b:9093 --command-config admin.properties --add "
        "--allow-principal User:x --operation Describe --operation Read --topic t",
        "kafka-acls.sh --bootstrap-server b:9093 --command-config admin.properties --add "
        "--allow-principal User:x --operation Write --transactional-id g- --resource-pattern-type prefixed",
    ]
