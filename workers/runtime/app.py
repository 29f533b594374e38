"""Build a live worker from its core's factory: metrics, direct reads and serde come from here,
so a worker's app.py is one call."""

from __future__ import annotations

from collections.abc import Callable

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.processing import Processor, Services
from workers.runtime.observability import Recorder, WorkerMetrics
from workers.runtime.reads import KafkaReads
from workers.runtime.worker import Worker
from workers.topology import Topology

Factory = Callable[[FleetSettings, Services], Processor]


def build_worker(name: str, settings: FleetSettings, topology: Topology, create: Factory) -> Worker:
    spec = topology.worker(name)
    serde = Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
    metrics = WorkerMetrics()
    recorder = Recorder(metrics, name)
    reads = KafkaReads(
        settings,
        topology,
        serde,
        settings.retry_policy(spec.reads_domain),
        recorder,
        domain=spec.reads_domain,
    )
    services = Services(reads=reads, metrics=recorder, splice=serde.encode_embedding)
    return Worker(
        settings, topology, create(settings, services), metrics=metrics, serde=serde, on_close=reads.close
    )
