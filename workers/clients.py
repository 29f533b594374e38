"""librdkafka configuration for every client the fleet creates, in one place."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from confluent_kafka import KafkaError

from workers.config import FleetSettings

ErrorSink = Callable[[KafkaError], None]


def _ignore(error: KafkaError) -> None:
    """Errors nobody asked for: librdkafka retries what it can by itself."""


def base_config(settings: FleetSettings, on_error: ErrorSink = _ignore) -> dict[str, Any]:
    """A wrong password or an untrusted certificate reaches the client only through error_cb:
    a worker passes its readiness (runtime/readiness.py) to hear about them."""
    return {**settings.kafka.client_config(), "log_level": 3, "error_cb": on_error}


def consumer_config(settings: FleetSettings, group: str, **extra: Any) -> dict[str, Any]:
    rt = settings.runtime
    return {
        **base_config(settings),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # Co-partitioned inputs need the same partition numbers on one member: range does that.
        "partition.assignment.strategy": "range",
        "max.poll.interval.ms": rt.max_poll_interval_ms,
        "session.timeout.ms": rt.session_timeout_ms,
        "fetch.wait.max.ms": 25,
        # Prefetched records a consumer may hold: under overload this, not the backlog, bounds
        # a worker's memory (librdkafka's default is 64 MiB).
        "queued.max.messages.kbytes": 16384,
        # End-of-partition events let a worker commit past trailing transaction markers.
        "enable.partition.eof": True,
        **extra,
    }


def reader_config(settings: FleetSettings, **extra: Any) -> dict[str, Any]:
    """A group-less consumer for restores and direct reads (assign + seek only)."""
    return {
        **base_config(settings),
        "group.id": f"{settings.topic_prefix}regime-fleet.reader",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": 10,
        **extra,
    }


def reporting(conf: dict[str, Any], on_error: ErrorSink) -> dict[str, Any]:
    """A client configuration whose errors go to `on_error` (a worker's readiness)."""
    return {**conf, "error_cb": on_error}


def producer_config(
    settings: FleetSettings, transactional_id: str | None, on_error: ErrorSink = _ignore
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        **base_config(settings, on_error),
        "enable.idempotence": True,
        "acks": "all",
        # Keys land where Java clients and Kafka Streams would put them.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": 16 * 1024 * 1024,  # topics set their own, smaller limits
    }
    if transactional_id:
        conf["transactional.id"] = transactional_id
        conf["transaction.timeout.ms"] = settings.runtime.transaction_timeout_ms
    return conf


_SLOTS: list[IO[str]] = []  # lock files held for the life of the process


def transactional_id(settings: FleetSettings, worker: str) -> str:
    """`<group>-<instance_id>-<slot>`: stable across restarts, so a restarted worker fences its
    predecessor at once and aborts its open transaction (instead of waiting out
    transaction.timeout.ms). The slot is the lowest free lock under the state dir: processes of
    one worker on one host get 0, 1, ...; a restarted one gets its predecessor's slot back."""
    root = Path(settings.runtime.state_dir) / settings.group(worker) / "slots"
    root.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        handle = (root / f"slot-{slot}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            slot += 1
            continue
        handle.write(str(os.getpid()))
        handle.flush()
        _SLOTS.append(handle)
        return f"{settings.group(worker)}-{settings.runtime.instance_id}-{slot}"
