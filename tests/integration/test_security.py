"""The fleet against a broker that enforces security: SASL/SCRAM over TLS, deny by default,
one principal per worker holding only the ACLs `regime-fleet acls plan` derives.

The secure broker is this module's own (harness/src/harness/broker/secure.py, port 19098), started here
and stopped at the end; the fleet's other tests keep their plaintext session broker.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from harness.broker.secure import ADMIN, SecureBroker, worker_user
from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS, Fleet, http_get, worker_status
from tests.integration.reference import reference_events
from workers.runtime.fleet_config import recorded_configs
from workers.security import admin as acl_admin
from workers.security.acls import Acl, drift, plan, principal_for
from workers.topology import load_topology

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("REGIME_FLEET_SECURE_PORT", "19098"))
PIPELINE = ("ingest", "scheduler", "engine", "publisher")
PRINCIPAL = "User:regime-fleet-{worker}"


@pytest.fixture(scope="module")
def broker() -> Iterator[SecureBroker]:
    broker = SecureBroker(port=PORT)
    started = broker.running_pid() is None
    broker.up()
    yield broker
    if started:
        broker.down()


def _settings_env(broker: SecureBroker, user: str, password: str | None = None) -> dict[str, str]:
    return {f"kafka__{k}": v for k, v in broker.client_settings(user, password).items()}


class SecureFleet(Fleet):
    """A Fleet whose own calls (topics, produce, consume) run as admin and whose workers run
    each as its own principal."""

    def __init__(self, broker: SecureBroker, root: Path) -> None:
        super().__init__(broker.bootstrap, f"s{uuid.uuid4().hex[:8]}.", root, _settings_env(broker, ADMIN))
        self.broker = broker
        self.ports: dict[str, int] = {}

    def start_as(
        self, worker: str, user: str | None = None, password: str | None = None, **extra: str
    ) -> None:
        port = self.ports.setdefault(worker, free_port())
        env = {
            **_settings_env(self.broker, user or worker_user(worker), password),
            "runtime__http_port": str(port),
            "runtime__http_host": "127.0.0.1",
            **extra,
        }
        self.start(worker, **env)

    def status(self, worker: str) -> dict[str, Any]:
        return worker_status(self.ports[worker])

    def planned(self, workers: tuple[str, ...] = PIPELINE) -> list[Acl]:
        s = self.settings()
        return plan(load_topology(s.partitions), self.prefix, principal_for(PRINCIPAL), only=workers)

    def grant(self, acls: list[Acl]) -> None:
        """Create the ACLs and wait until the broker's authorizer holds them (not instant)."""
        acl_admin.create(self.settings(), acls)
        assert _wait(lambda: not drift(acls, self.acls()).missing, timeout=15), "ACLs not in effect"

    def acls(self) -> list[Acl]:
        """The ACLs the broker holds on this fleet's resources, for the fleet's principals."""
        return [
            a for a in acl_admin.current(self.settings(), _principals()) if a.name.startswith(self.prefix)
        ]


@pytest.fixture
def secure_fleet(broker: SecureBroker, tmp_path: Path) -> Iterator[Callable[[], SecureFleet]]:
    made: list[SecureFleet] = []

    def make() -> SecureFleet:
        fleet = SecureFleet(broker, tmp_path / f"fleet{len(made)}")
        fleet.create_topics()
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        acls = fleet.acls()
        fleet.teardown()  # workers first: they must not see their ACLs go
        acl_admin.delete(fleet.settings(), acls)


def _principals() -> set[str]:
    return {principal_for(PRINCIPAL)(w) for w in (*PIPELINE, "api", "topics")}


def _events(days: int = 30) -> list[dict[str, Any]]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _wait(predicate: Callable[[], bool], timeout: float = 30.0, every: float = 0.2) -> float | None:
    """Seconds until predicate() held, or None on timeout (connection errors count as False)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(every)
    return None


def _view(values: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a fleet publishes, position-free: (symbol, engine_timestamp_ms, event_type, regime)."""
    rows = []
    for v in values:
        regime = v["regime_output"]["regime"] if v.get("regime_output") else None
        rows.append((v["symbol"], v["engine_timestamp_ms"], v["event_type"], regime))
    return sorted(rows)


def _check_output(fleet: SecureFleet, events: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    values = [r["value"] for r in records]
    assert len(values) == 2 * runs, f"{len(values)} events, expected {2 * runs}"
    counts = Counter((v["run_id"], v["event_type"]) for v in values)
    assert max(counts.values()) == 1, "a (run_id, event_type) was published twice"
    # The same cores chained in memory: what the plaintext fleet is checked against.
    assert _view(values) == _view(reference_events(events, fleet.settings()))


def _secrets(broker: SecureBroker) -> list[str]:
    return list(broker.credentials().values())


def test_fleet_end_to_end_with_one_principal_per_worker_and_only_planned_acls(broker, secure_fleet):
    fleet = secure_fleet()
    admin_settings = fleet.settings()
    planned = fleet.planned()
    fleet.grant(planned)
    assert sorted(fleet.acls()) == planned, "the broker holds other ACLs than planned"

    events = _events()
    for worker in PIPELINE:
        fleet.start_as(worker)
    fleet.produce("market.raw", events)
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    records = fleet.consume("regime.events", 2 * runs, timeout=90)
    _check_output(fleet, events, records)
    for worker in PIPELINE:
        status = fleet.status(worker)
        why = {k: status.get(k) for k in ("lifecycle", "last_error", "pause_reasons")}
        errors = [line for line in fleet.log(worker).splitlines() if "error" in line or "refused" in line]
        assert status["ready"] and status["lifecycle"] == "running", (worker, why, errors[-5:])
        # The runtime's own topics are in the plan too: commands in, heartbeats out.
        for refused in ("heartbeat_not_sent", "control_unavailable"):
            assert refused not in fleet.log(worker), (worker, errors[-5:])

    # No secret in any output: logs, /status, /metrics, the recorded configurations.
    outputs = {f"{w} /status": http_get(fleet.ports[w], "/status")[1] for w in PIPELINE}
    outputs |= {f"{w} /metrics": http_get(fleet.ports[w], "/metrics")[1] for w in PIPELINE}
    configs = recorded_configs(admin_settings)
    assert set(configs) >= set(PIPELINE)
    outputs["fleet.config"] = json.dumps(configs)
    outputs["settings.redacted"] = json.dumps(admin_settings.redacted())
    for worker in PIPELINE:
        assert fleet.stop(worker) == 0
        outputs[f"{worker} log"] = fleet.log(worker)
    for where, text in outputs.items():
        for secret in _secrets(broker):
            assert secret not in text, f"a password appears in {where}"


def test_removed_acl_degrades_the_worker_and_restoring_it_recovers_without_loss(broker, secure_fleet):
    fleet = secure_fleet()
    admin_settings = fleet.settings()
    fleet.grant(fleet.planned())
    write_events = Acl(
        principal_for(PRINCIPAL)("publisher"), "TOPIC", "LITERAL", fleet.prefix + "regime.events", "WRITE"
    )
    assert write_events in fleet.planned()

    events = _events()
    half = len(events) // 2
    for worker in PIPELINE:
        fleet.start_as(worker)
    fleet.produce("market.raw", events[:half])
    assert _wait(lambda: len(fleet.consume("regime.events", 1, timeout=5)) > 0, timeout=60)

    assert acl_admin.delete(admin_settings, [write_events]) == 1
    fleet.produce("market.raw", events[half:])
    to_degraded = _wait(lambda: fleet.status("publisher")["lifecycle"] == "degraded", timeout=30)
    assert to_degraded is not None, f"the publisher did not degrade: {fleet.status('publisher')}"
    status = fleet.status("publisher")
    assert not status["ready"]
    assert "authorisation" in status["last_error"] and "acls" in status["last_error"], status
    assert "authorisation" in status["pause_reasons"].get("kafka", ""), status
    assert "kafka_refused" in fleet.log("publisher")

    fleet.grant([write_events])
    to_ready = _wait(lambda: fleet.status("publisher")["ready"], timeout=60)
    assert to_ready is not None, f"the publisher did not recover: {fleet.status('publisher')}"
    assert fleet.status("publisher")["lifecycle"] == "running"
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    records = fleet.consume("regime.events", 2 * runs, timeout=90)
    _check_output(fleet, events, records)
    print(
        f"\npublisher degraded {to_degraded:.1f} s after losing WRITE, ready {to_ready:.1f} s after it returned"
    )


def test_a_principal_without_acls_and_a_worker_outside_its_acls_are_refused(broker, secure_fleet):
    fleet = secure_fleet()
    fleet.grant(fleet.planned())
    admin = AdminClient(broker.client_config())
    user, password = f"intruder-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
    for future in admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, password.encode())]
    ).values():
        future.result(timeout=15)
    intruder = {**broker.client_config(), "sasl.username": user, "sasl.password": password}
    events, buffer = fleet.prefix + "regime.events", fleet.prefix + "market.buffer"

    def produce_error(conf: dict[str, str], topic: str) -> KafkaError | None:
        reports: list[KafkaError | None] = []
        producer = Producer({**conf, "message.timeout.ms": 10_000})
        producer.produce(topic, b"x", b"S", on_delivery=lambda err, _msg: reports.append(err))
        producer.flush(15)
        assert reports, "no delivery report"
        return reports[0]

    def consume_error(conf: dict[str, str], topic: str) -> KafkaError | None:
        consumer = Consumer({**conf, "group.id": f"{fleet.prefix}intruder", "enable.partition.eof": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                for msg in consumer.consume(10, 0.5):
                    if msg.error() is not None:
                        return msg.error()  # type: ignore[no-any-return]
            return None
        finally:
            consumer.close()

    refused = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
    err = consume_error(intruder, events)
    assert err is not None and err.code() in refused, err
    err = produce_error(intruder, buffer)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # A worker may write only what it owns: the engine does not publish regime.events.
    err = produce_error(broker.client_config(worker_user("engine")), events)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # ... and the ingest principal writes market.buffer (the planned ACL is what lets it).
    assert produce_error(broker.client_config(worker_user("ingest")), buffer) is None


@pytest.mark.parametrize(
    ("override", "kind"),
    [
        ({"password": "not-the-password"}, "authentication"),
        ({"user": "regime-fleet-nobody", "password": "whatever"}, "authentication"),
        ({"kafka__ssl_ca_location": "/etc/ssl/certs/ca-certificates.crt"}, "tls"),
    ],
    ids=["wrong-password", "unknown-user", "untrusted-ca"],
)
def test_bad_credentials_or_ca_fail_fast_with_a_clear_message(broker, secure_fleet, override, kind):
    fleet = secure_fleet()
    fleet.grant(fleet.planned(("publisher",)))
    extra = {k: v for k, v in override.items() if k.startswith("kafka__")}
    fleet.start_as("publisher", user=override.get("user"), password=override.get("password"), **extra)
    took = _wait(lambda: fleet.status("publisher")["lifecycle"] == "degraded", timeout=30)
    assert took is not None and took < 15, f"not degraded in time: {fleet.status('publisher')}"
    print(f"\n{kind}: degraded {took:.1f} s after the process started")
    status = fleet.status("publisher")
    assert not status["ready"] and status["last_error"].startswith(kind), status
    assert http_get(fleet.ports["publisher"], "/readyz")[0] == 503
    time.sleep(3)
    assert fleet.procs["publisher"].poll() is None, "the worker exited instead of staying degraded"
    assert fleet.status("publisher")["lifecycle"] == "degraded"
    log = fleet.log("publisher")
    assert "kafka_refused" in log and kind in log
    for secret in [*_secrets(broker), "not-the-password"]:
        assert secret not in log and secret not in json.dumps(status)
