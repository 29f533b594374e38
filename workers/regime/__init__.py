"""The regime engine: a pure library. Public API: build_snapshot, run, ENGINE_VERSION."""

from workers.regime.classifier import ENGINE_VERSION, Params, RegimeOutput, run
from workers.regime.snapshot import Snapshot, SnapshotError, build_snapshot

__all__ = [
    "ENGINE_VERSION",
    "Params",
    "RegimeOutput",
    "Snapshot",
    "SnapshotError",
    "build_snapshot",
    "run",
]
