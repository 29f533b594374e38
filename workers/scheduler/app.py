"""Wires the scheduler core to Kafka."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.regime import ENGINE_VERSION
from workers.runtime.worker import Worker
from workers.scheduler.processor import SchedulerProcessor
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    return Worker(settings, topology, SchedulerProcessor(settings, ENGINE_VERSION))
