"""Wires the publisher core to Kafka."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.publisher.processor import PublisherProcessor
from workers.runtime.worker import Worker
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    processor = PublisherProcessor()
    worker = Worker(settings, topology, processor)
    processor.on_duplicate = worker.metrics.duplicates.labels("publisher").inc
    return worker
