"""Wires the labeler core to Kafka through the shared runtime."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.labeler.processor import create
from workers.runtime.app import build_worker
from workers.runtime.worker import Worker
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    return build_worker("labeler", settings, topology, create)
