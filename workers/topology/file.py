"""topology/fleet.yaml itself: where it is, reading it, and loading it into a validated Topology.
The only code that reads the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from workers.topology.checks import validate
from workers.topology.model import (
    Backpressure,
    InvalidTopology,
    ServiceSpec,
    TopicSpec,
    Topology,
    UnitTimeout,
    WorkerSpec,
    package_of,
)


def topology_path() -> Path:
    env = os.environ.get("REGIME_FLEET_TOPOLOGY")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "topology" / "fleet.yaml"


def read_topology(path: Path | None = None) -> Any:
    """The file parsed, not validated (`validate` says what is wrong with it)."""
    return yaml.safe_load((path or topology_path()).read_text())


def worker_names(path: Path | None = None) -> list[str]:
    """The workers the file declares, in file order (not validated)."""
    raw = read_topology(path)
    workers = raw.get("workers") if isinstance(raw, dict) else None
    return [str(name) for name in workers or {}]


def service_names(path: Path | None = None) -> list[str]:
    """The services the file declares, in file order (not validated)."""
    raw = read_topology(path)
    services = raw.get("services") if isinstance(raw, dict) else None
    return [str(name) for name in services or {}]


def load_topology(partitions: int, path: Path | None = None) -> Topology:
    raw = read_topology(path)
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
    services = {name: ServiceSpec(name, package_of(name, spec)) for name, spec in _services(raw).items()}
    return Topology(topics=topics, workers=workers, services=services)


def _services(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {name: spec or {} for name, spec in (raw.get("services") or {}).items()}


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
        fetch_min_bytes=int(spec.get("fetch_min_bytes", 1)),
        package=package_of(name, spec),
    )
