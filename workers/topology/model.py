"""The topology's model: topics, workers with their policies, services, and the DAG they form."""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any


@dataclass(frozen=True)
class TopologyError:
    code: str
    where: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "where": self.where, "message": self.message}


class InvalidTopology(Exception):
    def __init__(self, errors: list[TopologyError]) -> None:
        super().__init__("; ".join(f"{e.code} at {e.where}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    cleanup_policy: str
    retention_ms: int | None
    value_schema: str | None
    max_message_bytes: int | None = None

    def configs(self) -> dict[str, str]:
        conf = {"cleanup.policy": self.cleanup_policy}
        if self.max_message_bytes is not None:
            conf["max.message.bytes"] = str(self.max_message_bytes)
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        if self.cleanup_policy == "compact":
            conf["min.cleanable.dirty.ratio"] = "0.1"
            conf["segment.ms"] = "3600000"
        return conf


@dataclass(frozen=True)
class Backpressure:
    """Pause while `group` (a worker) lags on `topic` by more than setting `limit` x `records_per_unit`."""

    group: str
    topic: str
    limit: str
    records_per_unit: int = 1


@dataclass(frozen=True)
class UnitTimeout:
    """A record's processing that overruns setting `limit` (ms): `fail` (the core's timeout
    outputs) or `dead_letter`."""

    limit: str
    on_timeout: str = "fail"


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    reads: tuple[str, ...] = ()
    stores: dict[str, str] = field(default_factory=dict)
    dead_letter: str = "fleet.dlq"
    checkpoint_domain: str = "publish"
    reads_domain: str = "buffer"
    degrade_on_failure: bool = False
    backpressure: Backpressure | None = None
    unit_timeout: UnitTimeout | None = None
    fetch_min_bytes: int = 1  # the broker holds a fetch until this much (or 25 ms): see fleet.yaml
    package: str = ""  # its processor and settings: `<package>.processor`, `<package>.settings`

    def consumes(self, topic: str) -> bool:
        return topic in self.inputs


@dataclass(frozen=True)
class ServiceSpec:
    """A process that is not a stream processor: `regime-fleet run <name>` calls `build(settings,
    topology)` in `<package>.app`; its settings section is in `<package>.settings`, as a worker's."""

    name: str
    package: str


@dataclass(frozen=True)
class Topology:
    topics: dict[str, TopicSpec]
    workers: dict[str, WorkerSpec]
    services: dict[str, ServiceSpec] = field(default_factory=dict)

    @property
    def packages(self) -> dict[str, str]:
        """The Python package of every worker, then every service, by name."""
        return {
            **{w.name: w.package for w in self.workers.values()},
            **{s.name: s.package for s in self.services.values()},
        }

    def worker(self, name: str) -> WorkerSpec:
        if name not in self.workers:
            raise KeyError(f"no worker {name!r} in the topology; known: {sorted(self.workers)}")
        return self.workers[name]

    def downstream(self, topic: str) -> list[str]:
        """The workers fed by `topic`, directly or through other workers, upstream first."""
        fed: set[str] = set()
        frontier = {topic}
        while frontier:
            reached = {w.name for w in self.workers.values() if set(w.inputs) & frontier} - fed
            fed |= reached
            frontier = {t for w in reached for t in self.workers[w].outputs}
        return [w for w in self.order() if w in fed]

    def upstream(self, topic: str) -> list[str]:
        """The workers that feed `topic`, directly or through other workers, upstream first."""
        feeding: set[str] = set()
        frontier = {topic}
        while frontier:
            reached = {w.name for w in self.workers.values() if set(w.outputs) & frontier} - feeding
            feeding |= reached
            frontier = {t for w in reached for t in self.workers[w].inputs}
        return [w for w in self.order() if w in feeding]

    def order(self) -> list[str]:
        """Workers upstream first."""
        graph: dict[str, set[str]] = {w: set() for w in self.workers}
        for w in self.workers.values():
            for other in self.workers.values():
                if other.name != w.name and set(other.outputs) & set(w.inputs):
                    graph[w.name].add(other.name)
        return list(TopologicalSorter(graph).static_order())


def package_of(name: str, spec: Any) -> str:
    """A worker's or service's Python package: its `package`, default `workers.<name>`."""
    package = spec.get("package") if isinstance(spec, dict) else None
    return str(package) if package else f"workers.{name}"


def packages(raw: Any) -> dict[str, str]:
    """name -> Python package of each worker, then each service, of a parsed file; whatever
    of a malformed file can be read."""
    found: dict[str, str] = {}
    for kind in ("workers", "services"):
        entries = raw.get(kind) if isinstance(raw, dict) else None
        for name, spec in (entries or {}).items() if isinstance(entries, dict) else ():
            found[str(name)] = package_of(str(name), spec)
    return found


def setting(settings: Any, path: str) -> Any:
    """The value of a dotted settings path such as `engine.run_timeout_ms`."""
    value = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value
