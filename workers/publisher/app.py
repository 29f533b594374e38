"""Wires the publisher core to Kafka."""

from __future__ import annotations

from collections.abc import Mapping

from workers.config import FleetSettings
from workers.publisher.processor import PublisherProcessor
from workers.runtime.records import Output
from workers.runtime.worker import Worker
from workers.topology import Topology


def build(settings: FleetSettings, topology: Topology) -> Worker:
    processor = PublisherProcessor()

    def observe(out: Output) -> None:
        if out.topic == "regime.events" and isinstance(out.value, Mapping):
            worker.metrics.published.labels(out.value["event_type"]).inc()
            lag_ms = out.value["published_at_ms"] - out.value["engine_timestamp_ms"]
            worker.metrics.e2e_latency.observe(max(lag_ms, 0) / 1000)

    worker = Worker(settings, topology, processor, observe=observe)
    processor.on_duplicate = worker.metrics.duplicates.labels("publisher").inc
    return worker
