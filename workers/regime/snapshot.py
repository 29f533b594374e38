"""A Snapshot: the bar window of one SnapshotInputs event, as arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_BARS = 5


class SnapshotError(ValueError):
    """SnapshotInputs the engine cannot classify (too few bars, non-positive closes)."""


@dataclass(frozen=True)
class Snapshot:
    as_of_ts_ms: int
    close: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]


def build_snapshot(snapshot_inputs: Mapping[str, Any]) -> Snapshot:
    window = snapshot_inputs["window"]
    if len(window) < MIN_BARS:
        raise SnapshotError(f"window has {len(window)} bars, needs at least {MIN_BARS}")
    close = np.array([b["close"] for b in window], dtype=np.float64)
    if not np.all(np.isfinite(close)) or np.any(close <= 0):
        raise SnapshotError("window closes must be finite and positive")
    return Snapshot(
        as_of_ts_ms=int(snapshot_inputs["as_of_ts_ms"]),
        close=close,
        high=np.array([b["high"] for b in window], dtype=np.float64),
        low=np.array([b["low"] for b in window], dtype=np.float64),
        volume=np.array([b["volume"] for b in window], dtype=np.float64),
    )
