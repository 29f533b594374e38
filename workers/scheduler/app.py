"""Wires the scheduler core to Kafka."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.regime import ENGINE_VERSION
from workers.runtime.backpressure import Downstream
from workers.runtime.worker import Worker
from workers.scheduler.processor import SchedulerProcessor
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    downstream = None
    if settings.scheduler.max_inflight_runs:
        per_run = 3 if settings.engine.mode == "hysteresis" else 2  # engine.results records per run
        high = settings.scheduler.max_inflight_runs * per_run
        downstream = Downstream(
            settings.group("publisher"),
            settings.topic("engine.results"),
            high,
            high // 2,
            "publisher lags on engine.results",
        )
    return Worker(settings, topology, SchedulerProcessor(settings, ENGINE_VERSION), downstream=downstream)
