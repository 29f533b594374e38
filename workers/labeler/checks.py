"""The monitor's checks of a live model beyond accuracy: calibration (ECE of the confidences it
published against the outcomes) and feature drift (PSI of the features it scored against the
training distribution its ModelRecord carries). Pure: windows and counts in, numbers out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from workers.meta_model import drift


def live_ece(window: Sequence[Sequence[float]], bins: int) -> float:
    """ECE over (label, predicted, confidence) outcomes with equal-width confidence bins; NaN
    when no outcome in the window carries a confidence (state from before it was kept)."""
    pairs = [(float(w[0]), float(w[2])) for w in window if len(w) > 2]
    if not pairs:
        return math.nan
    sums: dict[int, list[float]] = {}
    for label, confidence in pairs:
        b = sums.setdefault(min(int(confidence * bins), bins - 1), [0.0, 0.0, 0.0])
        b[0], b[1], b[2] = b[0] + confidence, b[1] + label, b[2] + 1
    return sum(n / len(pairs) * abs(p / n - y / n) for p, y, n in sums.values())


@lru_cache(maxsize=8)
def parsed(shipped: str) -> dict[str, Any]:
    """A ModelRecord's feature_distribution JSON, parsed once per distinct text (a pure memo)."""
    return dict(json.loads(shipped)) if shipped else {}


def counted(
    counts: Mapping[str, list[int]], expected: Mapping[str, Any], features: Mapping[str, float]
) -> dict[str, list[int]]:
    """Bin counts per feature after one more scored signal (a feature absent from its map is
    missing, as in the enricher)."""
    out = {}
    for name, dist in expected.items():
        row = list(counts.get(name) or [0] * (len(dist["edges"]) + 2))
        row[drift.bin_of(dist, features.get(name, math.nan))] += 1
        out[name] = row
    return out


def drifted(
    counts: Mapping[str, list[int]], expected: Mapping[str, Any], bound: float
) -> tuple[dict[str, float], dict[str, float]]:
    """(PSI per feature, the features above `bound`)."""
    psi = {
        name: drift.psi_of_counts(expected[name], c) for name, c in sorted(counts.items()) if name in expected
    }
    return psi, {k: v for k, v in psi.items() if v > bound}
