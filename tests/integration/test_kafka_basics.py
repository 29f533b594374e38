"""The broker itself: source selection, transactions, topics from the topology, the JSON CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.conftest import pick_broker_source
from tests.samples import trade_event
from workers.config import FleetSettings
from workers.runtime.admin import ensure_topics
from workers.runtime.checkpoint import Checkpoint
from workers.runtime.context import RuntimeContext
from workers.topology import load_topology

pytestmark = pytest.mark.integration


def test_broker_source_order():
    assert pick_broker_source({"KAFKA_BOOTSTRAP_SERVERS": "h:1"}, docker_answers=True) == "env"
    assert pick_broker_source({}, docker_answers=True) == "testcontainers"
    assert pick_broker_source({}, docker_answers=False) == "local"


def test_read_committed_sees_committed_and_not_aborted(kafka_bootstrap):
    topic = f"txn-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(30)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    seen = []
    for _ in range(20):
        seen += [m.value() for m in consumer.consume(10, 1.0) if m.error() is None]
        if seen:
            break
    consumer.close()
    admin.delete_topics([topic])
    assert seen == [b"committed"]


def test_topics_create_is_idempotent_and_reports_mismatch(fleet_factory):
    fleet = fleet_factory()
    s = fleet.settings()
    second = ensure_topics(s, load_topology(s.partitions))
    assert {r.action for r in second} == {"exists"}
    wrong = ensure_topics(s, load_topology(3), create=False)
    # Every pipeline topic differs; the fleet-wide topics (fleet.config, fleet.control,
    # fleet.heartbeats) have one partition whatever the setting.
    single = {s.topic(t.name) for t in load_topology(3).topics.values() if t.partitions == 1}
    assert {s.topic(n) for n in ("fleet.config", "fleet.control", "fleet.heartbeats")} <= single
    assert {r.action for r in wrong if r.name not in single} == {"mismatch"}
    assert {r.action for r in wrong if r.name in single} == {"exists"}
    assert all("partitions 2 != 3" in r.detail for r in wrong if r.name not in single)


def test_produce_consume_round_trip_reports_bad_lines(fleet_factory, tmp_path):
    fleet = fleet_factory()
    good = trade_event(symbol="AAA", trade={"price": 10.5, "size": 3.0, "side": "BUY"}, source="test")
    bad_price = {**good, "event_id": "e2", "trade": {"price": -1.0, "size": 3.0, "side": "BUY"}}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps(bad_price),
        json.dumps({**good, "event_id": "e3"}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cli = [sys.executable, "-m", "workers.cli.main"]
    done = subprocess.run(
        [*cli, "produce", "--topic", "market.raw", "--file", str(path)],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"produced": 2, "rejected": 2}
    assert "line 2: rejected" in done.stderr and "line 3: rejected" in done.stderr
    assert "NON_POSITIVE_PRICE" in done.stderr
    out = subprocess.run(
        [
            *cli,
            "consume",
            "--topic",
            "market.raw",
            "--from-beginning",
            "--max",
            "2",
            "--timeout",
            "20",
        ],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["value"]["event_id"] for r in records) == ["e1", "e3"]
    assert records[0]["value"]["trade"] == good["trade"] or records[1]["value"]["trade"] == good["trade"]
    assert all(r["key"] == "AAA" for r in records)


def test_a_failed_transaction_is_found_at_once_and_a_healthy_one_is_left_alone(kafka_bootstrap):
    """The checkpoint asks librdkafka, while it waits on deliveries, whether the open
    transaction can still commit (runtime/checkpoint.py `_raise_if_abortable`): an open, healthy
    transaction is not disturbed by the question; one with a message the broker refused is
    reported as needing an abort, with no wait for the flush bound."""
    topic = f"txn-probe-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "2048"})])[topic].result(30)
    settings = FleetSettings(kafka={"bootstrap_servers": kafka_bootstrap})
    cp = Checkpoint(
        RuntimeContext.build("ingest", settings, load_topology(settings.partitions)), None, lambda: None
    )  # type: ignore[arg-type]
    assert cp.eos
    cp.producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{topic}"})
    cp.producer.init_transactions(30)
    cp.producer.begin_transaction()
    cp.producer.produce(topic, b"fits")
    cp.producer.flush(30)
    cp._raise_if_abortable()  # healthy: nothing raised, nothing changed
    cp.producer.commit_transaction(30)

    cp.producer.begin_transaction()
    cp.producer.produce(topic, b"x" * 10_000)  # beyond the topic's max.message.bytes
    cp.producer.flush(30)
    with pytest.raises(KafkaException) as refused:
        cp._raise_if_abortable()
    assert refused.value.args[0].txn_requires_abort()
    cp.producer.abort_transaction(30)
    # The refused message left a gap in the producer's sequence: the next transaction fails too
    # (OUT_OF_ORDER_SEQUENCE_NUMBER, an epoch bump), as after a broker restart; the question
    # finds that one as well, and after its abort the producer commits again.
    failed = 0
    for _ in range(3):
        cp.producer.begin_transaction()
        cp.producer.produce(topic, b"again")
        cp.producer.flush(30)
        try:
            cp._raise_if_abortable()
        except KafkaException as exc:
            assert exc.args[0].txn_requires_abort()
            failed += 1
            cp.producer.abort_transaction(30)
            continue
        cp.producer.commit_transaction(30)
        break
    else:
        raise AssertionError("no transaction committed after the refused message")
    assert failed <= 1
