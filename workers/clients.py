"""librdkafka configuration for every client the fleet creates, in one place."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from workers.config import FleetSettings

ErrorSink = Callable[[KafkaError], None]


def _ignore(error: KafkaError) -> None:
    """Errors nobody asked for: librdkafka retries what it can by itself."""


def base_config(settings: FleetSettings, on_error: ErrorSink = _ignore) -> dict[str, Any]:
    """A wrong password or an untrusted certificate reaches the client only through error_cb:
    a worker passes its readiness (runtime/readiness.py) to hear about them."""
    rt = settings.runtime
    return {
        **settings.kafka.client_config(),
        "log_level": 3,
        "error_cb": on_error,
        # A restarted broker is noticed within a second or two, not librdkafka's 10 s backoff
        # and 5 min metadata refresh (docs/reliability.md, "Failover levers").
        "reconnect.backoff.ms": rt.reconnect_backoff_ms,
        "reconnect.backoff.max.ms": rt.reconnect_backoff_max_ms,
        "topic.metadata.refresh.interval.ms": rt.metadata_refresh_interval_ms,
        "socket.timeout.ms": rt.socket_timeout_ms,
        "socket.connection.setup.timeout.ms": rt.socket_connection_setup_timeout_ms,
    }


def consumer_config(settings: FleetSettings, group: str, **extra: Any) -> dict[str, Any]:
    rt = settings.runtime
    return {
        **base_config(settings),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        **_group_protocol(settings),
        "max.poll.interval.ms": rt.max_poll_interval_ms,
        "fetch.wait.max.ms": 25,
        # Prefetched records a consumer may hold: under overload this, not the backlog, bounds
        # a worker's memory (librdkafka's default is 64 MiB).
        "queued.max.messages.kbytes": 16384,
        # ...and once it holds that much, fetch again 10 ms after it drains below, not librdkafka's
        # 1 s (fetch.queue.backoff.ms): a backlog otherwise drains in bursts with 1 s pauses.
        "fetch.queue.backoff.ms": 10,
        # End-of-partition events let a worker commit past trailing transaction markers.
        "enable.partition.eof": True,
        **extra,
    }


def _group_protocol(settings: FleetSettings) -> dict[str, Any]:
    """Co-partitioned inputs need the same partition numbers on one member: the classic
    protocol's eager range assignor does that; KIP-848's server-side range assignor assigns
    each topic alone and moves partitions incrementally, so for a moment partition p of two
    inputs can sit on two members (why `consumer` is for single-input workers only)."""
    rt = settings.runtime
    if rt.group_protocol == "consumer":
        return {"group.protocol": "consumer", "group.remote.assignor": "range"}
    return {"partition.assignment.strategy": "range", "session.timeout.ms": rt.session_timeout_ms}


def worker_membership(settings: FleetSettings, slot: int) -> dict[str, Any]:
    """A worker's own consumer: static membership (classic protocol), so a restarted process
    with the same identity and slot takes its partitions back without a rebalance."""
    rt = settings.runtime
    if rt.group_protocol != "classic" or not (rt.static_membership or rt.slot is not None):
        return {}  # a pinned slot (a warm standby's) is a stable identity: static as well
    return {"group.instance.id": f"{rt.instance_id}-{slot}"}


def worker_consumer_config(
    settings: FleetSettings, group: str, slot: int, fetch_min_bytes: int = 1
) -> dict[str, Any]:
    """A worker's own consumer: its group, its membership, and how long the broker may hold a
    fetch for more data (topology `fetch_min_bytes`, bounded by fetch.wait.max.ms). Only under
    exactly-once, where what the worker produces waits for its next commit anyway; at least
    once, a record's output is readable when produced, and the wait would add to its latency."""
    membership = worker_membership(settings, slot)
    if settings.runtime.processing_guarantee != "exactly_once":
        fetch_min_bytes = 1
    return consumer_config(settings, group, **membership, **{"fetch.min.bytes": fetch_min_bytes})


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


_SLOTS: dict[Path, IO[str]] = {}  # lock files held, until the process ends or lets them go


def transactional_id(settings: FleetSettings, worker: str, held: int | None = None) -> str:
    """`<group>-<instance_id>-<slot>`: stable across restarts, so a restarted worker fences its
    predecessor at once and aborts its open transaction (instead of waiting out
    transaction.timeout.ms). `held`: a slot this process already holds (else one is taken)."""
    n = slot(settings, worker) if held is None else held
    return f"{settings.group(worker)}-{settings.runtime.instance_id}-{n}"


def slot(settings: FleetSettings, worker: str) -> int:
    """The lowest free lock under the state dir, held for the life of the process: processes of
    one worker on one host get 0, 1, ...; a restarted one gets its predecessor's slot back."""
    n = 0
    while not take_slot(settings, worker, n):
        n += 1
    return n


def take_slot(settings: FleetSettings, worker: str, n: int) -> bool:
    """Hold slot `n` for the life of the process if no other process holds it (never waits):
    a warm standby (`runtime.slot`) calls this until its primary's process is gone."""
    path = _slots(settings, worker) / f"slot-{n}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    _SLOTS[path] = handle
    return True


def release_slot(settings: FleetSettings, worker: str, n: int) -> None:
    """Let slot `n` go once the worker holding it has closed its clients and stores: a warm
    standby takes over now, not after the interpreter has finished exiting."""
    handle = _SLOTS.pop(_slots(settings, worker) / f"slot-{n}.lock", None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def slot_holder(settings: FleetSettings, worker: str, n: int) -> str:
    """The pid written by the process holding slot `n` ('' if none was written)."""
    try:
        return (_slots(settings, worker) / f"slot-{n}.lock").read_text().strip()
    except OSError:
        return ""


# What a broker (or the way to it) answers while a just-created or just-moved partition's leader
# is not yet known everywhere, or while it restarts: the same question a moment later is answered.
_ASK_AGAIN = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)


def watermarks(consumer: Consumer, topic: str, partition: int, timeout_s: float = 10.0) -> tuple[int, int]:
    """(low, high) of one partition, asking again while the broker has no leader for it yet
    (a topic created a moment ago, a broker restarting), never longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=max(0.1, min(left, 5.0))
            )
            return low, high
        except KafkaException as e:
            error = e.args[0]
            if error.code() not in _ASK_AGAIN or left <= 0.25:
                raise
        time.sleep(0.2)


def _slots(settings: FleetSettings, worker: str) -> Path:
    root = Path(settings.runtime.state_dir) / settings.group(worker) / "slots"
    root.mkdir(parents=True, exist_ok=True)
    return root


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition the fleet's partitioner (`murmur2_random`, Kafka's Java murmur2) gives a
    key: where a symbol lives in every pipeline topic."""
    m, length = 0x5BD1E995, len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = (int.from_bytes(key[i : i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = key[length - length % 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
