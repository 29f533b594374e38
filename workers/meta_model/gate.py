"""The gate a candidate passes before it replaces "no model" (the cold-start 0.5) or the
active model: evidence, not a point estimate.

Criteria, each on held-out predictions (docs/training.md):
  auc_lower_bound   the bootstrap lower bound of the out-of-fold AUC is above trainer.auc_floor
  brier_skill       the calibrated held-out Brier skill against the base rate is above
                    trainer.min_brier_skill
  ece               the calibrated held-out ECE is at most trainer.max_ece
  beats_active      (a model is active) its held-out Brier on the same folds is lower
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float
    threshold: float
    rule: str  # "above" or "at most" or "below"
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "rule": self.rule,
            "verdict": "pass" if self.passed else "fail",
        }

    def sentence(self) -> str:
        return f"{self.name} {self.value:.4f} is not {self.rule} {self.threshold:.4f}"


def above(name: str, value: float, threshold: float) -> Criterion:
    return Criterion(name, value, threshold, "above", math.isfinite(value) and value > threshold)


def at_most(name: str, value: float, threshold: float) -> Criterion:
    return Criterion(name, value, threshold, "at most", math.isfinite(value) and value <= threshold)


def below(name: str, value: float, threshold: float) -> Criterion:
    return Criterion(name, value, threshold, "below", math.isfinite(value) and value < threshold)


def bootstrap_auc(
    labels: Array, scores: Array, *, resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """(lower, upper) percentile bootstrap interval of the AUC: `resamples` draws of the samples
    with replacement (seeded). One sort, then O(n) per draw: each draw is a weighting of the
    tie groups, AUC = sum over groups of w+ (negatives below + half the tied) / (P N)."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    if len(y) < 2 or len(set(y.tolist())) < 2:
        return math.nan, math.nan
    _, group = np.unique(s, return_inverse=True)
    groups = int(group.max()) + 1
    rng = np.random.default_rng(seed)
    positive = y == 1
    values = np.empty(resamples)
    for i in range(resamples):
        counts = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)
        pos = np.bincount(group, weights=counts * positive, minlength=groups)
        neg = np.bincount(group, weights=counts * ~positive, minlength=groups)
        below_neg = np.cumsum(neg) - neg
        total = pos.sum() * neg.sum()
        values[i] = float(np.sum(pos * (below_neg + neg / 2)) / total) if total else math.nan
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
