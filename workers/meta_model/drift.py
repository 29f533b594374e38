"""Feature drift: each feature's training distribution (shipped in the ModelRecord) and the
population stability index of live values against it.

A feature's distribution is its training deciles' edges (deduplicated, so a discrete feature
keeps one bin per value range) with the share of training values in each bin, plus the share
missing (NaN). PSI = sum over bins (live - train) * ln(live / train), shares floored at 1e-4;
the usual reading: < 0.1 stable, 0.1-0.25 moving, > 0.25 drifted.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FLOOR = 1e-4


def distribution(rows: np.ndarray[Any, Any], names: Sequence[str], bins: int = 10) -> dict[str, Any]:
    """{feature: {"edges": [...], "shares": [...], "missing": share}} of the training rows."""
    out: dict[str, Any] = {}
    for j, name in enumerate(names):
        column = np.asarray(rows[:, j], dtype=float)
        finite = column[np.isfinite(column)]
        cuts = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if len(finite) else np.array([])
        edges = [float(e) for e in np.unique(cuts)]
        out[name] = {
            "edges": edges,
            "shares": _shares(finite, edges, len(column)),
            "missing": float(1 - len(finite) / len(column)) if len(column) else 0.0,
        }
    return out


def psi(expected: Mapping[str, Any], values: Sequence[float]) -> float:
    """PSI of live `values` (NaN = missing) against one feature's training distribution."""
    return psi_of_counts(expected, counts(expected, values))


def counts(expected: Mapping[str, Any], values: Sequence[float]) -> list[int]:
    """How many of `values` fall in each of the distribution's bins, then how many are missing."""
    out = [0] * (len(expected["edges"]) + 2)
    for v in values:
        out[bin_of(expected, v)] += 1
    return out


def bin_of(expected: Mapping[str, Any], value: float) -> int:
    """The bin of one value (the last index: missing); the same bins `distribution` counted."""
    if value is None or not math.isfinite(value):
        return len(expected["edges"]) + 1
    return bisect.bisect_right(expected["edges"], value)


def psi_of_counts(expected: Mapping[str, Any], observed: Sequence[int]) -> float:
    """PSI of live bin counts (as `counts` gives them) against the training shares."""
    total = sum(observed)
    if not total:
        return math.nan
    train = [*expected["shares"], expected["missing"]]
    return float(
        sum(
            (c / total - e) * math.log(max(c / total, FLOOR) / max(e, FLOOR))
            for c, e in zip(observed, train, strict=True)
        )
    )


def _shares(finite: np.ndarray[Any, Any], edges: list[float], total: int) -> list[float]:
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    return [float(c / total) if total else 0.0 for c in counts]
