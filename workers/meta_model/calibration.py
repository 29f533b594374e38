"""Calibration maps from a booster's raw score to a probability that means what it says, and
the scores that check it (ECE, Brier, Brier skill, reliability bins).

Two maps, both fitted on out-of-fold predictions and both monotone non-decreasing in the raw
score (so ranking, hence AUC, is kept):
- Platt: p = sigmoid(a * logit(raw) + b), a >= 0, fitted by Newton's method on the log loss.
  Two parameters: stable on a few hundred samples (the default).
- isotonic: pool-adjacent-violators, knots (x, y) linearly interpolated, clamped at the ends.
  Free-form: better with many thousands of samples, noisy with fewer.
Applied one score at a time with `math` (no vectorised kernels), so a score is the same bits
whether it was scored in a batch or alone, in training or in the enricher.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
EPS = 1e-6  # raw scores are clipped to [EPS, 1 - EPS] before the logit
FLOOR = 1e-3  # calibrated probabilities stay in [FLOOR, 1 - FLOOR]: never "certain"
METHODS = ("platt", "isotonic")


class CalibrationError(ValueError):
    """A calibration map that cannot be read (bad JSON, unknown method, knots out of order)."""


@dataclass(frozen=True)
class Calibration:
    """A fitted map; `identity` (method "") leaves raw scores as they are."""

    method: str = ""
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def one(self, raw: float) -> float:
        """The calibrated probability of one raw score."""
        if self.method == "platt":
            z = self.a * _logit(raw) + self.b
            return _clip(1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0)
        if self.method == "isotonic":
            i = bisect.bisect_right(self.x, raw)
            if i == 0:
                return self.y[0]
            if i == len(self.x):
                return self.y[-1]
            x0, x1, y0, y1 = self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]
            return y0 + (y1 - y0) * (raw - x0) / (x1 - x0) if x1 > x0 else y1
        return raw

    def many(self, raw: Sequence[float] | Array) -> Array:
        return np.array([self.one(float(r)) for r in raw], dtype=float)

    def to_json(self) -> str:
        if self.method == "platt":
            return json.dumps({"method": "platt", "a": self.a, "b": self.b})
        if self.method == "isotonic":
            return json.dumps({"method": "isotonic", "x": list(self.x), "y": list(self.y)})
        return ""

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """The map a ModelRecord carries ("" is the identity); CalibrationError when unreadable."""
        if not text:
            return cls()
        try:
            v = json.loads(text)
            if v["method"] == "platt":
                a, b = float(v["a"]), float(v["b"])
                if not (math.isfinite(a) and math.isfinite(b) and a >= 0):
                    raise CalibrationError(f"platt needs finite a >= 0 and b, got {a}, {b}")
                return cls("platt", a=a, b=b)
            if v["method"] == "isotonic":
                x, y = tuple(float(i) for i in v["x"]), tuple(float(i) for i in v["y"])
                if not x or len(x) != len(y) or list(x) != sorted(x) or list(y) != sorted(y):
                    raise CalibrationError("isotonic knots must be non-empty, equally long and ascending")
                return cls("isotonic", x=x, y=y)
        except (ValueError, KeyError, TypeError) as exc:
            raise CalibrationError(f"unreadable calibration {text[:80]!r}: {exc}") from exc
        raise CalibrationError(f"unknown calibration method {v.get('method')!r} (expected one of {METHODS})")


def fit(method: str, raw: Array, labels: Array) -> Calibration:
    """A map of `method` ("platt", "isotonic" or "none") fitted on (raw score, label) pairs."""
    if method == "platt":
        return fit_platt(raw, labels)
    if method == "isotonic":
        return fit_isotonic(raw, labels)
    if method == "none":
        return Calibration()
    raise CalibrationError(f"unknown calibration method {method!r} (expected platt, isotonic or none)")


def fit_platt(raw: Array, labels: Array, iterations: int = 50) -> Calibration:
    """Platt scaling on logit(raw), by Newton's method with backtracking. The labels are the
    targets as they are: Platt's smoothed targets shrink towards 0.5 by about 1/N, which on the
    few dozen out-of-fold scores of a young model loop is a systematic underconfidence (the
    scores are out-of-fold already, so there is no in-sample overfit to shrink away). On
    separable scores the slope stops growing after `iterations`; the clip keeps it finite."""
    target = np.asarray(labels, dtype=float)
    z = np.array([_logit(float(r)) for r in raw])
    rate = float(np.clip(target.mean(), EPS, 1 - EPS))
    a, b = 0.0, math.log(rate / (1 - rate))  # the base rate: a well-conditioned start
    loss = _platt_loss(a, b, z, target)
    for _ in range(iterations):
        with np.errstate(over="ignore"):  # a separable sample: p is 0 or 1 there, as it should be
            p = 1 / (1 + np.exp(-(a * z + b)))
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.sum((p - target) * z), np.sum(p - target)])
        h = np.array([[np.sum(w * z * z) + 1e-9, np.sum(w * z)], [np.sum(w * z), np.sum(w) + 1e-9]])
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-6:  # backtracking: Newton's full step can overshoot
            na, nb = a - scale * float(step[0]), b - scale * float(step[1])
            new = _platt_loss(na, nb, z, target)
            if new <= loss:
                break
            scale /= 2
        else:
            break
        a, b, done = na, nb, loss - new < 1e-12
        loss = new
        if done:
            break
    if not (a >= 0 and math.isfinite(a) and math.isfinite(b)):  # anti-correlated or degenerate
        a, b = 0.0, math.log(rate / (1 - rate))
    return Calibration("platt", a=a, b=b)


def fit_isotonic(raw: Array, labels: Array) -> Calibration:
    """Pool adjacent violators over the raw scores in order: one knot per pooled block (its mean
    raw score, its positive rate)."""
    order = np.argsort(np.asarray(raw, dtype=float), kind="stable")
    xs, ys = np.asarray(raw, dtype=float)[order], np.asarray(labels, dtype=float)[order]
    blocks: list[list[float]] = []  # [sum x, sum y, count]
    for xv, yv in zip(xs.tolist(), ys.tolist(), strict=True):
        blocks.append([xv, yv, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            sx, sy, n = blocks.pop()
            blocks[-1] = [blocks[-1][0] + sx, blocks[-1][1] + sy, blocks[-1][2] + n]
    x = tuple(sx / n for sx, _, n in blocks)
    y = tuple(_clip(sy / n) for _, sy, n in blocks)
    return Calibration("isotonic", x=x, y=y)


def expected_calibration_error(labels: Array, p: Array, bins: int = 10) -> float:
    """ECE: |mean predicted - observed rate| per equal-width bin, weighted by the bin's share."""
    y, q = np.asarray(labels, dtype=float), np.asarray(p, dtype=float)
    if not len(y):
        return math.nan
    which = np.clip((q * bins).astype(int), 0, bins - 1)
    total = 0.0
    for i in range(bins):
        mask = which == i
        if mask.any():
            total += float(mask.mean()) * abs(float(q[mask].mean()) - float(y[mask].mean()))
    return total


def reliability(labels: Array, p: Array, bins: int = 10) -> list[dict[str, float]]:
    """Per non-empty equal-width bin: mean predicted, observed rate, count (the diagram)."""
    y, q = np.asarray(labels, dtype=float), np.asarray(p, dtype=float)
    which = np.clip((q * bins).astype(int), 0, bins - 1)
    return [
        {"predicted": float(q[which == i].mean()), "observed": float(y[which == i].mean()), "count": int(n)}
        for i in range(bins)
        if (n := int(np.sum(which == i)))
    ]


def brier(labels: Array, p: Array) -> float:
    y, q = np.asarray(labels, dtype=float), np.asarray(p, dtype=float)
    return float(np.mean((q - y) ** 2)) if len(y) else math.nan


def brier_skill(labels: Array, p: Array) -> float:
    """1 - Brier / Brier of always answering the data's own base rate: > 0 only when the model
    knows more than the base rate (a strict reference: the rate is not known in advance)."""
    y = np.asarray(labels, dtype=float)
    reference = float(y.mean() * (1 - y.mean())) if len(y) else math.nan
    return 1 - brier(y, p) / reference if reference > 0 else math.nan


def _platt_loss(a: float, b: float, z: Array, target: Array) -> float:
    m = a * z + b
    return float(np.sum(np.logaddexp(0, m) - target * m))  # log loss, stable for any margin


def _logit(raw: float) -> float:
    r = min(max(raw, EPS), 1 - EPS)
    return math.log(r / (1 - r))


def _clip(p: float) -> float:
    return min(max(p, FLOOR), 1 - FLOOR)
