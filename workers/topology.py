"""The fleet DAG from topology/fleet.yaml: load, validate, and derive topic specs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

from workers.contracts.schemas import SCHEMA_NAMES


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

    def consumes(self, topic: str) -> bool:
        return topic in self.inputs


@dataclass(frozen=True)
class Topology:
    topics: dict[str, TopicSpec]
    workers: dict[str, WorkerSpec]

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


def topology_path() -> Path:
    env = os.environ.get("REGIME_FLEET_TOPOLOGY")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "topology" / "fleet.yaml"


def load_topology(partitions: int, path: Path | None = None) -> Topology:
    raw = yaml.safe_load((path or topology_path()).read_text())
    errors = validate(raw)
    if errors:
        raise InvalidTopology(errors)
    topics = {
        name: TopicSpec(
            name=name,
            partitions=partitions if spec["partitions"] == "pipeline" else int(spec["partitions"]),
            cleanup_policy=spec["cleanup_policy"],
            retention_ms=spec.get("retention_ms"),
            value_schema=spec.get("value_schema"),
            max_message_bytes=spec.get("max_message_bytes"),
        )
        for name, spec in raw["topics"].items()
    }
    workers = {name: _worker(name, spec) for name, spec in raw["workers"].items()}
    return Topology(topics=topics, workers=workers)


def _worker(name: str, spec: dict[str, Any]) -> WorkerSpec:
    retry = spec.get("retry", {})
    bp, timeout = spec.get("backpressure"), spec.get("unit_timeout")
    return WorkerSpec(
        name=name,
        inputs=tuple(spec.get("inputs", [])),
        outputs=tuple(spec.get("outputs", [])),
        reads=tuple(spec.get("reads", [])),
        stores=dict(spec.get("stores", {})),
        dead_letter=spec["dead_letter"],
        checkpoint_domain=retry.get("checkpoint", "publish"),
        reads_domain=retry.get("reads", "buffer"),
        degrade_on_failure=bool(spec.get("degrade_on_failure", False)),
        backpressure=Backpressure(**bp) if bp else None,
        unit_timeout=UnitTimeout(**timeout) if timeout else None,
    )


def setting(settings: Any, path: str) -> Any:
    """The value of a dotted settings path such as `engine.run_timeout_ms`."""
    value = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _policy_errors(name: str, spec: dict[str, Any], workers: dict[str, Any]) -> list[TopologyError]:
    from workers.config import FleetSettings
    from workers.retry import DOMAINS

    where = f"workers.{name}"
    errors = []

    def bad(code: str, field_: str, message: str) -> None:
        errors.append(TopologyError(code, f"{where}.{field_}", message))

    def known_setting(path: Any) -> bool:
        try:
            return isinstance(setting(FleetSettings.model_construct(), str(path)), int)
        except AttributeError:
            return False

    if spec.get("inputs") and spec.get("dead_letter") not in spec.get("outputs", []):
        bad("BAD_DEAD_LETTER", "dead_letter", f"{spec.get('dead_letter')!r} must be one of its outputs")
    for role, domain in (spec.get("retry") or {}).items():
        if role not in ("checkpoint", "reads") or domain not in DOMAINS:
            bad(
                "BAD_RETRY", f"retry.{role}", f"{role}: {domain!r}; roles checkpoint/reads, domains {DOMAINS}"
            )
    bp = spec.get("backpressure")
    if bp is not None:
        group = workers.get(bp.get("group"), {})
        if bp.get("topic") not in group.get("inputs", []):
            bad(
                "BAD_BACKPRESSURE",
                "backpressure",
                f"{bp.get('group')!r} must be a worker reading {bp.get('topic')!r}",
            )
        if not known_setting(bp.get("limit")):
            bad("BAD_BACKPRESSURE", "backpressure.limit", f"{bp.get('limit')!r} is not an integer setting")
    timeout = spec.get("unit_timeout")
    if timeout is not None:
        if not known_setting(timeout.get("limit")):
            bad("BAD_TIMEOUT", "unit_timeout.limit", f"{timeout.get('limit')!r} is not an integer setting")
        if timeout.get("on_timeout", "fail") not in ("fail", "dead_letter"):
            bad("BAD_TIMEOUT", "unit_timeout.on_timeout", "on_timeout: fail or dead_letter")
    return errors


def validate(raw: Any) -> list[TopologyError]:
    """Every problem found, as structured errors (empty when the topology is sound)."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("topics"), dict)
        or not isinstance(raw.get("workers"), dict)
    ):
        return [TopologyError("MALFORMED", "/", "needs mappings 'topics' and 'workers'")]
    errors: list[TopologyError] = []
    topics = raw["topics"]
    for name, spec in topics.items():
        where = f"topics.{name}"
        if spec.get("cleanup_policy") not in ("delete", "compact", "compact,delete"):
            errors.append(
                TopologyError("BAD_CLEANUP_POLICY", where, f"cleanup_policy {spec.get('cleanup_policy')!r}")
            )
        p = spec.get("partitions")
        if p != "pipeline" and not (isinstance(p, int) and p > 0):
            errors.append(
                TopologyError("BAD_PARTITIONS", where, f"partitions {p!r}: 'pipeline' or a positive int")
            )
        schema = spec.get("value_schema")
        if schema is not None and schema not in SCHEMA_NAMES:
            errors.append(
                TopologyError("UNKNOWN_SCHEMA", where, f"value_schema {schema!r} is not a contract")
            )
    producers: dict[str, list[str]] = {}
    for name, spec in raw["workers"].items():
        for role in ("inputs", "outputs", "reads"):
            for topic in spec.get(role, []):
                if topic not in topics:
                    errors.append(
                        TopologyError(
                            "UNKNOWN_TOPIC",
                            f"workers.{name}.{role}",
                            f"topic {topic!r} is not declared",
                        )
                    )
        for store, topic in spec.get("stores", {}).items():
            if topic not in topics:
                errors.append(
                    TopologyError(
                        "UNKNOWN_TOPIC",
                        f"workers.{name}.stores.{store}",
                        f"changelog {topic!r} is not declared",
                    )
                )
            elif topics[topic].get("cleanup_policy") != "compact":
                errors.append(
                    TopologyError(
                        "CHANGELOG_NOT_COMPACTED",
                        f"workers.{name}.stores.{store}",
                        f"{topic} must be compacted",
                    )
                )
        for topic in spec.get("outputs", []):
            producers.setdefault(topic, []).append(name)
        errors += _policy_errors(name, spec, raw["workers"])
    changelogs = [t for spec in raw["workers"].values() for t in spec.get("stores", {}).values()]
    for topic in {t for t in changelogs if changelogs.count(t) > 1}:
        errors.append(TopologyError("DUPLICATE_NAME", f"topics.{topic}", "changelog shared by two stores"))
    graph: dict[str, set[str]] = {}
    for name, spec in raw["workers"].items():
        upstream = {p for t in spec.get("inputs", []) for p in producers.get(t, []) if p != name}
        graph[name] = upstream
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        errors.append(TopologyError("CYCLE", "workers", f"workers form a cycle: {' -> '.join(exc.args[1])}"))
    return errors
