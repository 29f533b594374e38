"""The promotion rule: a challenger takes over from the champion only when its live Brier
score on the same signals is lower, with evidence. Pure: the ModelMetrics records of
models.metrics in, a verdict with its reasons out (docs/training.md, "Champion and challenger").

The evidence is the paired Brier gain g_i = (champion_i - y_i)^2 - (challenger_i - y_i)^2 over
the outcomes both scored: the challenger passes when there are at least `min_outcomes` of them
and the one-sided lower confidence bound of the mean gain, mean - z * sd / sqrt(n), is above 0.
Pairing removes the signals' own difficulty from the comparison (a paired t-like test on the
squared errors, as Diebold and Mariano compare forecasts); like the trainer's bootstrap it
treats outcomes as independent, so overlapping label windows make it somewhat optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any


@dataclass(frozen=True)
class Rule:
    min_outcomes: int = 200
    confidence: float = 0.95  # one-sided


@dataclass(frozen=True)
class Verdict:
    version: str
    champion: str
    passed: bool
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def sentence(self) -> str:
        if self.passed:
            return f"{self.version} beats {self.champion}: " + "; ".join(self.reasons)
        return f"{self.version} does not beat {self.champion}: " + "; ".join(self.reasons)


def latest_per_partition(records: Iterable[Mapping[str, Any]], version: str) -> list[Mapping[str, Any]]:
    """The newest record of `version` per labeler partition (records in topic order)."""
    newest: dict[int, Mapping[str, Any]] = {}
    for r in records:
        if r["model_version"] == version:
            newest[int(r["partition"])] = r
    return [newest[p] for p in sorted(newest)]


def judge(version: str, champion: str, records: Iterable[Mapping[str, Any]], rule: Rule) -> Verdict:
    """The rule applied to the challenger's newest record per partition, paired with `champion`
    (records paired with an earlier champion do not count)."""
    mine = latest_per_partition(records, version)
    paired = [r for r in mine if r["role"] == "challenger" and r["champion_version"] == champion]
    n = sum(int(r["paired"]) for r in paired)
    total = math.fsum(float(r["brier_gain_sum"]) for r in paired)
    squares = math.fsum(float(r["brier_gain_sumsq"]) for r in paired)
    champion_brier = (
        math.fsum(float(r["champion_brier"]) * int(r["paired"]) for r in paired) / n if n else math.nan
    )
    mean = total / n if n else math.nan
    sd = math.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1)) if n > 1 else math.nan
    z = NormalDist().inv_cdf(rule.confidence)
    lower = mean - z * sd / math.sqrt(n) if n > 1 else -math.inf
    evidence = {
        "rule": f"paired outcomes >= {rule.min_outcomes} and the {rule.confidence:.0%} one-sided lower "
        "bound of the mean Brier gain over the champion > 0",
        "champion": champion,
        "paired_outcomes": n,
        "partitions": [int(r["partition"]) for r in paired],
        "mean_brier_gain": mean,
        "lower_bound": lower,
        "champion_brier": champion_brier,
        "challenger_brier": champion_brier - mean if n else math.nan,
        "brier_skill_vs_champion": mean / champion_brier if n and champion_brier > 0 else math.nan,
    }
    reasons = []
    if not mine:
        reasons.append(f"no live scores of {version} on models.metrics (is it published as a challenger?)")
    elif mine and not paired:
        roles = sorted({f"{r['role']} beside {r['champion_version'] or '-'}" for r in mine})
        reasons.append(f"no shadow scores of {version} paired with the champion {champion} (found: {roles})")
    if mine and paired and n < rule.min_outcomes:
        reasons.append(f"{n} paired live outcomes, the rule needs {rule.min_outcomes}")
    if paired and not lower > 0:
        reasons.append(
            f"the {rule.confidence:.0%} lower bound of its mean Brier gain is {lower:.5f} (mean {mean:.5f}), "
            "not above 0"
        )
    if reasons:
        return Verdict(version, champion, False, reasons, evidence)
    why = [
        f"{n} paired outcomes, mean Brier gain {mean:.5f}, {rule.confidence:.0%} lower bound {lower:.5f} > 0"
    ]
    return Verdict(version, champion, True, why, evidence)
