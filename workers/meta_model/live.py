"""A model version's live scores over a rolling window of outcomes: AUC, Brier, ECE, accuracy,
Brier skill; and, for a challenger scored in shadow, the paired Brier gain over the champion
on the same signals. Pure and in `math` only: the labeler computes them per outcome, and the
same window gives the same bits in a replay."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveScores:
    window: int
    auc: float  # NaN while the window holds one class
    brier: float
    ece: float
    accuracy: float
    base_rate: float
    brier_skill: float  # NaN while the window holds one class


def scores(labels: Sequence[int], confidences: Sequence[float], bins: int) -> LiveScores:
    """The scores of `confidences` (P(label 1)) against `labels`; an empty window is all NaN."""
    n = len(labels)
    if n == 0:
        return LiveScores(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    brier = math.fsum((p - y) ** 2 for y, p in zip(labels, confidences, strict=True)) / n
    rate = sum(labels) / n
    spread = rate * (1 - rate)
    return LiveScores(
        window=n,
        auc=auc(labels, confidences),
        brier=brier,
        ece=ece(labels, confidences, bins),
        accuracy=sum(1 for y, p in zip(labels, confidences, strict=True) if (p > 0.5) == (y == 1)) / n,
        base_rate=rate,
        brier_skill=1 - brier / spread if spread > 0 else math.nan,
    )


def auc(labels: Sequence[int], confidences: Sequence[float]) -> float:
    """The Mann-Whitney AUC (ties count one half); NaN with one class."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = sorted(range(len(labels)), key=lambda i: confidences[i])
    rank_sum, i = 0.0, 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and confidences[order[j + 1]] == confidences[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        rank_sum += rank * sum(labels[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def ece(labels: Sequence[int], confidences: Sequence[float], bins: int) -> float:
    """Mean |predicted - observed| over equal-width confidence bins, weighted by their share."""
    sums: dict[int, list[float]] = {}
    for y, p in zip(labels, confidences, strict=True):
        b = sums.setdefault(min(int(p * bins), bins - 1), [0.0, 0.0, 0.0])
        b[0], b[1], b[2] = b[0] + p, b[1] + y, b[2] + 1
    n = len(labels)
    return math.fsum(c / n * abs(p / c - y / c) for p, y, c in sums.values()) if n else math.nan


@dataclass(frozen=True)
class PairedGain:
    """Champion minus challenger squared error per signal, summed over a paired window: a
    positive mean gain is a lower Brier for the challenger. Sums add across partitions."""

    n: int
    gain_sum: float
    gain_sumsq: float
    champion_brier: float
    challenger_brier: float


def paired(labels: Sequence[int], champion: Sequence[float], challenger: Sequence[float]) -> PairedGain:
    n = len(labels)
    gains = [(c - y) ** 2 - (s - y) ** 2 for y, c, s in zip(labels, champion, challenger, strict=True)]
    if not n:
        return PairedGain(0, 0.0, 0.0, math.nan, math.nan)
    return PairedGain(
        n=n,
        gain_sum=math.fsum(gains),
        gain_sumsq=math.fsum(g * g for g in gains),
        champion_brier=math.fsum((c - y) ** 2 for y, c in zip(labels, champion, strict=True)) / n,
        challenger_brier=math.fsum((s - y) ** 2 for y, s in zip(labels, challenger, strict=True)) / n,
    )
