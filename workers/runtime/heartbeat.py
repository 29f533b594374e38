"""A worker instance's heartbeat on the compacted `fleet.heartbeats` topic, keyed by
worker/instance: what `GET /v1/workers` lists without a host list, and the control plane's
acknowledgement (each command's applied time here), sent at once when a command took effect.

Best effort and never blocking: a heartbeat that cannot be produced is skipped and said once.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from confluent_kafka import KafkaException, Producer

from workers import clients
from workers.config import FleetSettings
from workers.runtime.context import RuntimeContext
from workers.runtime.control import ControlReader, read_log
from workers.topics import HEARTBEATS

INTERVAL_S = 3.0
STALE_AFTER_S = 15.0  # a heartbeat this old: the instance is gone (or cannot reach Kafka)


def fleet_version() -> str:
    try:
        return version("regime-fleet")
    except PackageNotFoundError:
        return "unknown"


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    def __init__(
        self, ctx: RuntimeContext, control: ControlReader, clock: Callable[[], float] = time.time
    ) -> None:
        self.ctx = ctx
        self.control = control
        self.clock = clock
        self.instance = instance_id()
        self.fingerprint = ctx.settings.config_fingerprint()
        self.version = fleet_version()
        self._producer: Producer | None = None
        self._due = 0.0
        self._failed = ""

    def value(self) -> dict[str, Any]:
        status = self.ctx.status.as_dict()
        return {
            **status,
            "instance": self.instance,
            "config_fingerprint": self.fingerprint,
            "version": self.version,
            "applied": dict(self.control.applied),
            "sent_at_ms": int(self.clock() * 1000),
        }

    def tick(self, *, force: bool = False) -> None:
        """Send when due, or at once after a control command changed something here."""
        now = time.monotonic()
        if not (force or self.control.changed or now >= self._due):
            return
        self._due = now + INTERVAL_S
        self.control.changed = False
        settings = self.ctx.settings
        try:
            if self._producer is None:
                self._producer = Producer(clients.producer_config(settings, None))
            key = f"{self.ctx.name}/{self.instance}".encode()
            self._producer.produce(settings.topic(HEARTBEATS), json.dumps(self.value()).encode(), key)
            self._producer.poll(0)
        except (KafkaException, BufferError) as exc:
            if str(exc) != self._failed:
                self.ctx.log.warning("heartbeat_not_sent", error=str(exc))
            self._failed = str(exc)

    def close(self) -> None:
        """A last heartbeat (lifecycle as it stands) before the process exits, bounded."""
        self.tick(force=True)
        if self._producer is not None:
            self._producer.flush(min(2.0, self.ctx.settings.runtime.kafka_call_timeout_s))
            self._producer = None


def read_heartbeats(settings: FleetSettings, timeout_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """worker/instance -> its latest heartbeat ({} when none was sent yet), read whole."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in read_log(settings, HEARTBEATS, timeout_s):
        try:
            found[key.decode()] = json.loads(value)
        except ValueError:
            continue
    return found
