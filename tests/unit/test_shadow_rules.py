"""Live scores (AUC, Brier, ECE) against independent definitions, and the promotion rule: a
challenger passes only with enough paired outcomes and a Brier gain whose lower bound is above 0."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from workers.meta_model import live
from workers.meta_model.calibration import brier, expected_calibration_error
from workers.meta_model.promotion import Rule, judge


def test_live_scores_equal_independent_definitions() -> None:
    rng = random.Random(5)
    labels = [rng.randint(0, 1) for _ in range(300)]
    p = [round(rng.random(), 2) for _ in range(300)]  # rounded: ties
    s = live.scores(labels, p, bins=10)
    pairs = [(i, j) for i in range(300) if labels[i] for j in range(300) if not labels[j]]
    wins = sum(1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0 for i, j in pairs)
    assert s.auc == pytest.approx(wins / len(pairs), abs=1e-12)
    y, q = np.array(labels), np.array(p)
    assert s.brier == pytest.approx(brier(y, q), abs=1e-12)
    assert s.ece == pytest.approx(expected_calibration_error(y, q, 10), abs=1e-12)
    rate = sum(labels) / 300
    assert s.brier_skill == pytest.approx(1 - s.brier / (rate * (1 - rate)))
    assert math.isnan(live.scores([1, 1], [0.2, 0.9], 5).auc)


def records(gains: list[float], partitions: int = 2, champion: str = "c1") -> list[dict[str, object]]:
    """The newest models.metrics record per partition of a challenger with these paired gains."""
    out: list[dict[str, object]] = []
    for p in range(partitions):
        mine = gains[p::partitions]
        out.append(
            {
                "model_version": "x1",
                "role": "challenger",
                "partition": p,
                "champion_version": champion,
                "paired": len(mine),
                "brier_gain_sum": math.fsum(mine),
                "brier_gain_sumsq": math.fsum(g * g for g in mine),
                "champion_brier": 0.25,
            }
        )
    return out


def test_a_challenger_with_a_clear_gain_passes_and_the_bound_is_the_paired_one() -> None:
    rng = random.Random(1)
    gains = [0.02 + rng.gauss(0, 0.05) for _ in range(400)]
    stale = {**records([-1.0] * 10, partitions=1)[0], "partition": 0}
    verdict = judge("x1", "c1", [stale, *records(gains)], Rule(200, 0.95))  # newer records win
    assert verdict.passed, verdict.reasons
    g = np.array(gains)
    lower = g.mean() - 1.6448536269514722 * g.std(ddof=1) / math.sqrt(len(g))
    assert verdict.evidence["lower_bound"] == pytest.approx(lower, rel=1e-9)
    assert verdict.evidence["paired_outcomes"] == 400


@pytest.mark.parametrize(
    ("gains", "rule", "reason"),
    [
        ([0.05] * 50 + [0.04] * 50, Rule(200, 0.95), "100 paired live outcomes, the rule needs 200"),
        (
            [0.002 + 0.1 * (-1) ** i for i in range(400)],
            Rule(200, 0.95),
            "lower bound of its mean Brier gain",
        ),
        ([-0.01] * 300, Rule(200, 0.95), "not above 0"),
    ],
)
def test_a_challenger_without_evidence_is_refused_with_the_reason(
    gains: list[float], rule: Rule, reason: str
) -> None:
    verdict = judge("x1", "c1", records(gains), rule)
    assert not verdict.passed and reason in verdict.sentence()


def test_scores_paired_with_another_champion_do_not_count() -> None:
    verdict = judge("x1", "c2", records([0.05] * 400, champion="c1"), Rule(200, 0.95))
    assert not verdict.passed and "paired with the champion c2" in verdict.sentence()
    nothing = judge("x9", "c1", records([0.05] * 400), Rule(200, 0.95))
    assert not nothing.passed and "no live scores of x9" in nothing.sentence()
