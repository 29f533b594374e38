"""Triple-barrier meta-labels (López de Prado, AFML ch. 3).

A signal entered at price p0 with direction d (+1 long, -1 short) and per-observation
volatility sigma gets two horizontal barriers on the price path after it,

    upper = p0 * exp(+width_up * sigma)      lower = p0 * exp(-width_down * sigma)

with width_up = profit_taking and width_down = stop_loss for a long (mirrored for a short: its
profit is below), and a vertical barrier `max_hold` observations later. The first barrier
touched decides: the profit side gives label 1 (the signal was right), the stop side 0; the
vertical barrier gives 1 when the price moved in the signal's direction, else 0. Without a
sigma (too little history) only the vertical barrier applies.

Two implementations that must agree label for label (tests/unit/meta_model): `label_paths`,
vectorised over each path with NumPy, for training; `OpenSignal.step`, one observation at a
time, for the labeler worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

UPPER, LOWER, VERTICAL = "UPPER", "LOWER", "VERTICAL"


@dataclass(frozen=True)
class Barriers:
    profit_taking: float = 2.0  # in sigmas
    stop_loss: float = 2.0
    max_hold: int = 20  # observations


@dataclass(frozen=True)
class Outcome:
    label: int
    barrier: str
    index: int  # the observation (0-based after entry) that resolved it
    ts_ms: int


def barrier_prices(price: float, direction: int, sigma: float | None, b: Barriers) -> tuple[float, float]:
    """(upper, lower) price barriers; infinite when sigma is unknown."""
    if not sigma or sigma <= 0 or not math.isfinite(sigma):
        return math.inf, 0.0
    up, down = (b.profit_taking, b.stop_loss) if direction > 0 else (b.stop_loss, b.profit_taking)
    return price * math.exp(up * sigma), price * math.exp(-down * sigma)


def _decide(direction: int, barrier: str, price: float, entry: float) -> int:
    if barrier == UPPER:
        return 1 if direction > 0 else 0
    if barrier == LOWER:
        return 1 if direction < 0 else 0
    return 1 if (price - entry) * direction > 0 else 0


def label_path(
    entry: float,
    direction: int,
    sigma: float | None,
    prices: np.ndarray[Any, Any],
    ts: np.ndarray[Any, Any],
    b: Barriers,
) -> Outcome | None:
    """The outcome of one signal over the observations after it (None: not resolved yet)."""
    upper, lower = barrier_prices(entry, direction, sigma, b)
    path = prices[: b.max_hold]
    hits = np.flatnonzero((path >= upper) | (path <= lower))
    if hits.size:
        i = int(hits[0])
        barrier = UPPER if path[i] >= upper else LOWER
        return Outcome(_decide(direction, barrier, float(path[i]), entry), barrier, i, int(ts[i]))
    if len(prices) >= b.max_hold:
        i = b.max_hold - 1
        return Outcome(_decide(direction, VERTICAL, float(prices[i]), entry), VERTICAL, i, int(ts[i]))
    return None


def label_paths(
    prices: np.ndarray[Any, Any],
    ts: np.ndarray[Any, Any],
    entries: list[tuple[int, float, int, float | None]],
    b: Barriers,
) -> list[Outcome | None]:
    """Outcomes of signals on one price series: each entry is (index of the first observation
    after the signal, entry price, direction, sigma)."""
    return [label_path(p0, d, s, prices[i:], ts[i:], b) for i, p0, d, s in entries]


@dataclass
class OpenSignal:
    """A signal waiting for a barrier, folded one observation at a time."""

    entry: float
    direction: int
    upper: float
    lower: float
    seen: int = 0

    @classmethod
    def open(cls, entry: float, direction: int, sigma: float | None, b: Barriers) -> OpenSignal:
        upper, lower = barrier_prices(entry, direction, sigma, b)
        return cls(entry, direction, upper, lower)

    def step(self, price: float, ts_ms: int, b: Barriers) -> Outcome | None:
        index = self.seen
        self.seen += 1
        if price >= self.upper or price <= self.lower:
            barrier = UPPER if price >= self.upper else LOWER
            return Outcome(_decide(self.direction, barrier, price, self.entry), barrier, index, ts_ms)
        if self.seen >= b.max_hold:
            return Outcome(_decide(self.direction, VERTICAL, price, self.entry), VERTICAL, index, ts_ms)
        return None

    def as_list(self) -> list[float]:
        return [self.entry, self.direction, self.upper, self.lower, self.seen]

    @classmethod
    def from_list(cls, v: list[Any]) -> OpenSignal:
        return cls(float(v[0]), int(v[1]), float(v[2]), float(v[3]), int(v[4]))
