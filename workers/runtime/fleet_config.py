"""Each worker's effective configuration, recorded on the compacted `fleet.config` topic
(keyed by worker) when it starts, so a replay reproduces what the live fleet did instead of
whatever the replaying shell happens to have set. Only settings that change output are
recorded (FleetSettings.output_config): never a secret, never an address."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.topics import CONFIG


def config_record(settings: FleetSettings, worker: str) -> dict[str, Any]:
    return {
        "worker": worker,
        "config": settings.output_config(),
        "config_fingerprint": settings.config_fingerprint(),
        "instance": socket.gethostname(),
        "recorded_at_ms": int(time.time() * 1000),
    }


def record_config(settings: FleetSettings, worker: str, log: Any) -> None:
    """Best effort and bounded: a worker that cannot record still runs, and says so."""
    producer = Producer(clients.producer_config(settings, None))
    value = json.dumps(config_record(settings, worker), sort_keys=True).encode()
    try:
        producer.produce(settings.topic(CONFIG), value, worker.encode(), partition=0)
        if producer.flush(settings.runtime.kafka_call_timeout_s):
            raise KafkaException("not delivered in time")
    except (KafkaException, BufferError) as exc:
        log.warning("config_not_recorded", topic=settings.topic(CONFIG), error=str(exc))


def recorded_configs(settings: FleetSettings, timeout_s: float = 15.0) -> dict[str, dict[str, Any]]:
    """worker -> the latest recorded config record ({} when nothing was recorded)."""
    name = settings.topic(CONFIG)
    consumer = Consumer(clients.reader_config(settings))
    found: dict[str, dict[str, Any]] = {}
    try:
        meta = consumer.list_topics(name, timeout=10).topics.get(name)
        if meta is None or meta.error is not None:
            return {}
        low, high = clients.watermarks(consumer, name, 0, 10)
        if high <= low:
            return {}
        consumer.assign([TopicPartition(name, 0, low)])
        deadline = time.monotonic() + timeout_s
        while consumer.position([TopicPartition(name, 0)])[0].offset < high and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                if msg.error() is None and msg.key() and msg.value():
                    try:
                        found[msg.key().decode()] = json.loads(msg.value())
                    except ValueError:
                        continue
    finally:
        consumer.close()
    return found


def differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """Dotted key -> [a's value, b's value] wherever two configs differ."""
    out: dict[str, list[Any]] = {}
    for key in sorted(a.keys() | b.keys()):
        path = f"{prefix}{key}"
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out.update(differences(x, y, path + "."))
        elif x != y:
            out[path] = [x, y]
    return out
