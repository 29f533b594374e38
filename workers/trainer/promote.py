"""Champion and challenger on the `models` topic: publishing a challenger, reading the live
scores (models.metrics), and promotion, a recorded decision: the promoted ModelRecord's
`details` carries who promoted it, under which rule, the verdict and its evidence, and when.

A challenger is a ModelRecord with `status: challenger` under the key `<model_name>:challenger`
(compaction keeps the newest one); the enricher scores it in shadow. Promoting it publishes
the same booster and calibration map as the live model (a newer trained_ts_ms, as a rollback
does), which also ends the shadow: the enricher empties its challenger slot when the champion
becomes the challenger's version.
"""

from __future__ import annotations

import getpass
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from workers.config import FleetSettings
from workers.enricher.settings import EnricherSettings
from workers.labeler.settings import LabelerSettings
from workers.meta_model import NO_MODEL
from workers.meta_model.promotion import Rule, Verdict, judge
from workers.runtime.reader import TopicError, read_all
from workers.topics import METRICS, MODELS
from workers.trainer.publish import NoBooster, publish_model, rollback_record
from workers.trainer.service import active_model


class PromotionRefused(Exception):
    """The challenger does not pass the promotion rule; `verdict` says why."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.sentence())
        self.verdict = verdict


@dataclass(frozen=True)
class Promotion:
    record: dict[str, Any]
    verdict: Verdict
    forced: bool
    copies: list[tuple[int, int]]


def challenger_key(settings: FleetSettings) -> str:
    return f"{EnricherSettings.of(settings).model_name}:challenger"


def as_challenger(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "status": "challenger"}


def live_metrics(settings: FleetSettings) -> list[dict[str, Any]]:
    """Every ModelMetrics record on models.metrics, partition by partition, in offset order
    (none yet: an empty list)."""
    try:
        return [s.value for s in read_all(settings, METRICS, "ModelMetrics", skip_undecodable=True)]
    except TopicError:
        return []


def rule_of(settings: FleetSettings) -> Rule:
    c = LabelerSettings.of(settings)
    return Rule(min_outcomes=c.promote_min_outcomes, confidence=c.promote_confidence)


def challenger_record(settings: FleetSettings, version: str) -> dict[str, Any] | None:
    """The newest challenger record of `version` on `models`, or None."""
    name = EnricherSettings.of(settings).model_name
    found = [
        s.value
        for s in read_all(settings, MODELS, "ModelRecord", skip_undecodable=True)
        if s.value["model_name"] == name
        and s.value.get("status") == "challenger"
        and s.value["model_version"] == version
    ]
    return found[-1] if found else None


def verdict_for(settings: FleetSettings, version: str) -> Verdict:
    active = active_model(settings)
    champion = active["model_version"] if active else NO_MODEL
    return judge(version, champion, live_metrics(settings), rule_of(settings))


def promote(settings: FleetSettings, version: str, *, force: bool = False, by: str = "") -> Promotion:
    """Publish the challenger `version` as the live model when it passes the rule (or `force`);
    PromotionRefused when it does not, NoBooster when there is no such model to publish."""
    verdict = verdict_for(settings, version)
    if not verdict.passed and not force:
        raise PromotionRefused(verdict)
    source = challenger_record(settings, version)
    if source is None:  # a trained version under trainer.report_dir
        source = rollback_record(settings, version)
    now = int(time.time() * 1000)
    try:
        details = json.loads(source.get("details") or "{}")
    except ValueError:
        details = {}
    decision = {
        "by": by or getpass.getuser(),
        "at_ms": now,
        "rule": verdict.evidence.get("rule", ""),
        "passed": verdict.passed,
        "forced": force and not verdict.passed,
        "reasons": verdict.reasons,
        "evidence": {k: _plain(v) for k, v in verdict.evidence.items()},
        "replaced": verdict.champion,
    }
    record = {
        **source,
        "status": "live",
        "trained_ts_ms": now,
        "details": json.dumps(
            {**(details if isinstance(details, dict) else {}), "promotion": decision},
            sort_keys=True,
            default=str,
        ),
    }
    copies = publish_model(settings, record)
    return Promotion(record, verdict, force and not verdict.passed, copies)


def _plain(value: Any) -> Any:
    """JSON without NaN or infinities (null instead)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


__all__ = ["NoBooster", "Promotion", "PromotionRefused", "promote", "verdict_for"]
