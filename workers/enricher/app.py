"""Wires the enricher core to Kafka through the shared runtime."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.enricher.processor import create
from workers.runtime.app import build_worker
from workers.runtime.worker import Worker
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    return build_worker("enricher", settings, topology, create)
