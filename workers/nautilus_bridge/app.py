"""`regime-fleet run nautilus`: the bridge between the fleet and NautilusTrader nodes.

A topology *service*, not a processor: its source on one side is a Redis stream, which the
runtime's Kafka loop and checkpoint protocol cannot consume or commit. Two threads, one per
direction (signals_in.py, deliveries.py), each with its own Redis client. A Redis error turns
the bridge not ready with the reason, stops that direction (Kafka keeps what it has not
consumed; the Redis consumer group keeps what is not acked), and reconnects with the
`redis_retry` backoff; the direction then re-opens from what Redis says was done.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Protocol

import redis
from confluent_kafka import Consumer, KafkaException, Producer

from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.nautilus_bridge.deliveries import Deliveries
from workers.nautilus_bridge.metrics import BridgeMetrics
from workers.nautilus_bridge.settings import NautilusBridgeSettings
from workers.nautilus_bridge.signals_in import KafkaTransactionFailed, SignalsIn
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.topology import Topology

NAME = "nautilus"  # its topology name (package workers.nautilus_bridge)
JOIN_S = 15.0


class Direction(Protocol):
    def open(self) -> None: ...
    def step(self) -> int: ...


class Bridge:
    """The service: health endpoints, the two directions, and their Redis recovery."""

    def __init__(self, settings: FleetSettings, topology: Topology) -> None:
        self.settings = settings
        self.section = NautilusBridgeSettings.of(settings)
        self.serde = Serde.of(settings)
        self.metrics = WorkerMetrics()
        self.bridge_metrics = BridgeMetrics(self.metrics.registry)
        self.status = WorkerStatus(NAME, settings.group(NAME), self.metrics)
        self.log = get_logger(worker=NAME, group_id=self.status.group)
        self.stopping = threading.Event()
        self.failed: list[str] = []

    def redis_client(self) -> redis.Redis:
        s = self.section
        return redis.Redis.from_url(
            s.redis_url, socket_timeout=s.redis_timeout_s, socket_connect_timeout=s.redis_timeout_s
        )

    def run(self) -> int:
        server = serve(self.status, self.settings.runtime.http_port, self.settings.runtime.http_host)
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        producer = Producer(
            clients.producer_config(self.settings, clients.transactional_id(self.settings, NAME))
        )
        consumer = Consumer(clients.reader_config(self.settings, **{"group.id": self.status.group}))
        try:
            producer.init_transactions(10.0)
            signals_in = SignalsIn(
                self.section, self.settings.topic, self.settings.runtime.instance_id, self.serde,
                producer, self.redis_client(), self.bridge_metrics, self.log,
            )  # fmt: skip
            deliveries = Deliveries(
                self.section,
                self.settings.topic,
                self.serde,
                consumer,
                self.redis_client(),
                self.bridge_metrics,
                self.log,
            )
            threads = [
                threading.Thread(target=self._loop, args=("signals_in", signals_in), daemon=True),
                threading.Thread(target=self._loop, args=("deliveries", deliveries), daemon=True),
            ]
            self.status.set_lifecycle("running")
            for t in threads:
                t.start()
            while not self.stopping.is_set() and all(t.is_alive() for t in threads):
                self.status.last_poll_monotonic = time.monotonic()
                self.stopping.wait(0.2)
            self.stopping.set()
            for t in threads:
                t.join(JOIN_S)
        except KafkaException as exc:
            self.failed.append(str(exc))
        finally:
            consumer.close()
            producer.flush(5.0)
            server.shutdown()
        if self.failed:
            self.log.error("bridge_failed", error="; ".join(self.failed))
            self.status.set_lifecycle("degraded")
            return 1
        self.status.set_lifecycle("stopped")
        return 0

    def _loop(self, name: str, direction: Direction) -> None:
        """Open, then step until stopped; on a Redis or transaction error: not ready, back off, re-open."""
        attempt = 0
        opened = False
        while not self.stopping.is_set():
            try:
                if not opened:
                    direction.open()
                    opened = True
                    attempt = 0
                    self._recovered(name)
                direction.step()
            except (redis.RedisError, OSError, KafkaTransactionFailed) as exc:
                attempt += 1
                opened = False
                self._failing(name, exc, attempt)
                self.stopping.wait(self.section.redis_retry.delay(attempt))
            except Exception as exc:  # a bug: stop the process rather than spin
                self.log.exception("bridge_direction_crashed", direction=name)
                self.failed.append(f"{name}: {type(exc).__name__}: {exc}")
                self.stopping.set()

    def _failing(self, name: str, exc: BaseException, attempt: int) -> None:
        kind = "kafka" if isinstance(exc, KafkaTransactionFailed) else "redis"
        reason = f"{name}: {kind} unavailable ({type(exc).__name__}: {exc}); retry {attempt}"
        self.status.pause_reasons[name] = reason
        self.status.last_error = reason
        if kind == "redis":
            self.bridge_metrics.redis_connected.set(0)
        self.log.warning("bridge_paused", direction=name, reason=reason)

    def _recovered(self, name: str) -> None:
        if self.status.pause_reasons.pop(name, None) is not None:
            self.log.info("bridge_resumed", direction=name)
        if not self.status.pause_reasons:
            self.bridge_metrics.redis_connected.set(1)


def build(settings: FleetSettings, topology: Topology) -> Bridge:
    return Bridge(settings, topology)


__all__: list[str] = ["Bridge", "build"]
