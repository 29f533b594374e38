"""What every part of a live worker needs, made once: its settings, topology entry, serde,
metrics, log, readiness and failure policy (Quix Streams' processing context in spirit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.runtime.faults import NO_FAULTS, Faults
from workers.runtime.handlers import FailureHandlers
from workers.runtime.health import WorkerStatus
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.readiness import Readiness
from workers.topology import Topology, WorkerSpec


@dataclass(frozen=True)
class RuntimeContext:
    """One worker process's shared parts; `eos` is the processing guarantee, decided once."""

    settings: FleetSettings
    topology: Topology
    spec: WorkerSpec
    serde: Serde
    metrics: WorkerMetrics
    log: Any
    readiness: Readiness
    handlers: FailureHandlers
    faults: Faults = NO_FAULTS
    eos: bool = True
    topic_names: dict[str, str] = field(default_factory=dict)  # prefixed name -> logical name

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def group(self) -> str:
        return self.settings.group(self.spec.name)

    @property
    def status(self) -> WorkerStatus:
        return self.readiness.status

    def logical(self, topic: str) -> str:
        """The topology's name of a topic as the broker names it (prefix removed)."""
        return self.topic_names.get(topic, topic)

    @classmethod
    def build(
        cls,
        name: str,
        settings: FleetSettings,
        topology: Topology,
        *,
        serde: Serde | None = None,
        metrics: WorkerMetrics | None = None,
        faults: Faults = NO_FAULTS,
    ) -> RuntimeContext:
        spec = topology.worker(name)
        metrics = metrics or WorkerMetrics()
        log = get_logger(worker=name, group_id=settings.group(name))
        status = WorkerStatus(worker=name, group=settings.group(name), metrics=metrics)
        return cls(
            settings=settings,
            topology=topology,
            spec=spec,
            serde=serde or Serde.of(settings),
            metrics=metrics,
            log=log,
            readiness=Readiness(status, log),
            handlers=FailureHandlers.for_worker(spec, settings),
            faults=faults,
            eos=settings.runtime.processing_guarantee == "exactly_once",
            topic_names={settings.topic(t): t for t in topology.topics},
        )
