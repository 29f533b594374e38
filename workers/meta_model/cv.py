"""Purged walk-forward cross-validation with an embargo (AFML ch. 7), and the scores.

Samples are signals in time order, each with the window its label looks at: t0 (the signal)
to t1 (the observation that resolved it). The data is cut into `folds + 1` consecutive blocks;
fold k tests on block k and trains on what came before it (walk-forward: never on the future),
minus the training samples whose label window reaches into the test block (purge: t1 at or
after the test's first t0) and those that end within `embargo_ms` before it (embargo), so no
training label can know anything the test period knows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Fold:
    train: Array  # sample indices
    test: Array


def walk_forward(t0: Array, t1: Array, folds: int, embargo_ms: int) -> Iterator[Fold]:
    """Folds over samples sorted by t0 (raises when they are not)."""
    if np.any(np.diff(t0) < 0):
        raise ValueError("samples must be in time order (t0 ascending)")
    blocks = np.array_split(np.arange(len(t0)), folds + 1)
    for test in blocks[1:]:
        if not len(test):
            continue
        start = t0[test[0]]
        before = np.arange(test[0])
        keep = before[t1[before] < start - embargo_ms]
        yield Fold(keep, test)


def auc(labels: Sequence[int] | Array, scores: Sequence[float] | Array) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN with one class only."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = s[y == 1], s[y == 0]
    if not len(positives) or not len(negatives):
        return math.nan
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order))
    combined = np.concatenate([positives, negatives])[order]
    i = 0
    while i < len(combined):  # average ranks over ties
        j = i
        while j + 1 < len(combined) and combined[j + 1] == combined[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = ranks[: len(positives)].sum()
    return float((rank_sum - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def scores(labels: Array, probabilities: Array) -> dict[str, float]:
    """accuracy, AUC, log loss, precision and recall at 0.5."""
    y, p = np.asarray(labels), np.clip(np.asarray(probabilities, dtype=float), 1e-15, 1 - 1e-15)
    predicted = p > 0.5
    true_positive = float(np.sum(predicted & (y == 1)))
    return {
        "accuracy": float(np.mean(predicted == (y == 1))) if len(y) else math.nan,
        "auc": auc(y, p),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else math.nan,
        "precision": true_positive / float(np.sum(predicted)) if np.any(predicted) else math.nan,
        "recall": true_positive / float(np.sum(y == 1)) if np.any(y == 1) else math.nan,
        "samples": float(len(y)),
    }
