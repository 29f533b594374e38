"""`regime-fleet run <name>`: a topology worker on the shared runtime, its core found by name
(processing/registry.py), or a service's own `build(settings, topology)` from `<package>.app`."""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.processing import Edges
from workers.processing.registry import create_processor
from workers.runtime.direct_reads import KafkaReads
from workers.runtime.faults import NO_FAULTS, Faults
from workers.runtime.observability import Recorder, WorkerMetrics
from workers.runtime.process import WorkerProcess
from workers.runtime.worker import Worker
from workers.topology import Topology


class Runnable(Protocol):
    def run(self) -> int: ...


def build(name: str, settings: FleetSettings, topology: Topology) -> Runnable:
    """A service of the topology (`services:`) builds itself; any other name is a worker."""
    if name in topology.services:
        service: Runnable = import_module(f"{topology.services[name].package}.app").build(settings, topology)
        return service
    return build_worker(name, settings, topology)


def build_worker(
    name: str, settings: FleetSettings, topology: Topology, *, faults: Faults = NO_FAULTS
) -> WorkerProcess:
    """Metrics, direct reads and serde for the worker's core, and the runtime around it
    (`faults`: only tests inject any, tests/faults.py)."""
    spec = topology.worker(name)
    serde = Serde.of(settings)
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
    edges = faults.edges(Edges(reads=reads, metrics=recorder, splice=serde.encode_embedding))
    worker = Worker(
        settings,
        topology,
        create_processor(name, settings, edges),
        metrics=metrics,
        serde=serde,
        on_close=reads.close,
        faults=faults,
    )
    return WorkerProcess(worker)
