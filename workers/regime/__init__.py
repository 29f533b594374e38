"""The regime engine: a pure library. Public API: build_snapshot, run, run_with_hysteresis."""

from workers.regime.classifier import ENGINE_VERSION, Params, RegimeOutput, run
from workers.regime.hysteresis import (
    HysteresisDecision,
    HysteresisParams,
    HysteresisState,
    run_with_hysteresis,
)
from workers.regime.snapshot import Snapshot, SnapshotError, build_snapshot

__all__ = [
    "ENGINE_VERSION",
    "HysteresisDecision",
    "HysteresisParams",
    "HysteresisState",
    "Params",
    "RegimeOutput",
    "Snapshot",
    "SnapshotError",
    "build_snapshot",
    "run",
    "run_with_hysteresis",
]
