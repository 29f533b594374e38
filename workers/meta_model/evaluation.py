"""What the out-of-fold predictions say about a candidate: its calibration map, how calibrated
it is on data the map never saw, and the gate's verdict.

The shipped map is fitted on every out-of-fold prediction. Its quality is measured walk-forward
too: fold k's predictions are calibrated with a map fitted on folds 1..k-1 only, so the ECE,
Brier score and Brier skill the gate reads are held-out numbers (fold 1 has no earlier fold to
calibrate with and is left out of them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workers.meta_model import calibration as cal
from workers.meta_model.gate import Criterion, above, at_most, below, bootstrap_auc

Array = np.ndarray[Any, Any]
Fold = tuple[Array, Array]  # (labels, raw scores) of one test fold


@dataclass(frozen=True)
class HeldOut:
    labels: Array
    raw: Array
    calibrated: Array


def held_out(folds: Sequence[Fold], method: str) -> HeldOut:
    """Folds 2..K, each calibrated by a map fitted on the folds before it."""
    labels, raw, calibrated = [], [], []
    for k in range(1, len(folds)):
        past_y = np.concatenate([y for y, _ in folds[:k]])
        past_p = np.concatenate([p for _, p in folds[:k]])
        mapping = cal.fit(method, past_p, past_y) if len(set(past_y.tolist())) == 2 else cal.Calibration()
        labels.append(folds[k][0])
        raw.append(folds[k][1])
        calibrated.append(mapping.many(folds[k][1]))
    if not labels:
        empty = np.array([])
        return HeldOut(empty, empty, empty)
    return HeldOut(np.concatenate(labels), np.concatenate(raw), np.concatenate(calibrated))


def calibration_report(h: HeldOut, bins: int) -> dict[str, Any]:
    """ECE, Brier, Brier skill and the reliability diagram's bins, before and after the map."""

    def side(p: Array) -> dict[str, Any]:
        return {
            "ece": cal.expected_calibration_error(h.labels, p, bins),
            "brier": cal.brier(h.labels, p),
            "brier_skill": cal.brier_skill(h.labels, p),
            "accuracy": float(np.mean((p > 0.5) == (h.labels == 1))) if len(p) else math.nan,
            "reliability": cal.reliability(h.labels, p, bins),
        }

    base = float(np.mean(h.labels)) if len(h.labels) else math.nan
    return {
        "samples": len(h.labels),
        "base_rate": base,
        "base_rate_brier": base * (1 - base) if len(h.labels) else math.nan,
        "raw": side(h.raw),
        "calibrated": side(h.calibrated),
    }


def gate(
    t: Any,  # TrainerSettings (by duck type: the trainer's package imports this one)
    folds: Sequence[Fold],
    h: HeldOut,
    active_brier: float | None,
) -> list[Criterion]:
    """Every criterion, passed or not, in the order the docs list them."""
    labels = np.concatenate([y for y, _ in folds]) if folds else np.array([])
    scores = np.concatenate([p for _, p in folds]) if folds else np.array([])
    lower, _ = bootstrap_auc(
        labels, scores, resamples=t.bootstrap_resamples, confidence=t.auc_confidence, seed=t.seed
    )
    criteria = [
        above("auc_lower_bound", lower, t.auc_floor),
        above("brier_skill", cal.brier_skill(h.labels, h.calibrated), t.min_brier_skill),
        at_most("ece", cal.expected_calibration_error(h.labels, h.calibrated, t.ece_bins), t.max_ece),
    ]
    if active_brier is not None and t.beat_active:
        criteria.append(below("brier_vs_active", cal.brier(h.labels, h.calibrated), active_brier))
    return criteria
