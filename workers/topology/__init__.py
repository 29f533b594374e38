"""The fleet DAG of topology/fleet.yaml: its model, loading and validation. The only package
that reads the file: everything per worker (settings sections, Helm values) derives from it."""

from workers.topology.checks import validate
from workers.topology.file import (
    load_topology,
    read_topology,
    service_names,
    topology_path,
    worker_names,
)
from workers.topology.model import (
    Backpressure,
    InvalidTopology,
    ServiceSpec,
    TopicSpec,
    Topology,
    TopologyError,
    UnitTimeout,
    WorkerSpec,
    package_of,
    packages,
    setting,
)

__all__ = [
    "Backpressure",
    "InvalidTopology",
    "ServiceSpec",
    "TopicSpec",
    "Topology",
    "TopologyError",
    "UnitTimeout",
    "WorkerSpec",
    "load_topology",
    "package_of",
    "packages",
    "read_topology",
    "service_names",
    "setting",
    "topology_path",
    "validate",
    "worker_names",
]
