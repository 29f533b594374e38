"""The model loop on the real broker: enricher, labeler and trainer running; live accuracy
degrades on purpose, a RetrainTrigger appears, the trainer publishes a new model, and the
enricher switches to it mid-stream without dropping or duplicating a signal."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from tests.integration.fleet import Fleet, model_versions, switches, wait_consumed
from tests.integration.test_enricher import produce
from workers.enricher.samples import bar_record, signal
from workers.meta_model import model_record, train_booster
from workers.trainer.publish import enricher_features, publish_model

pytestmark = pytest.mark.integration
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
T0 = 1_700_000_000_000
HOUR = 3_600_000
SETTINGS = {
    "labeler__window": "40",
    "labeler__min_samples": "40",
    "labeler__accuracy_drop": "0.1",
    "labeler__history": "1000",
    "labeler__barriers__max_hold": "1",  # the next bar decides
    "trainer__barriers__max_hold": "1",
    "trainer__min_samples": "30",
    "trainer__folds": "3",
    "trainer__rounds": "20",
    "trainer__auc_floor": "0.6",
    # the first retrain sees a few dozen outcomes: leaves of a few samples, and an ECE bound
    # for that sample size (the AUC bound and the Brier skill still have to be met)
    "trainer__min_child_weight": "0.5",
    "trainer__max_ece": "0.15",
}


def market(start: int, end: int, ups: np.ndarray) -> dict[str, list[tuple[str, dict[str, Any], int | None]]]:
    """Hourly bars per symbol; after bar i the price goes up when ups[i], else down; a long
    signal after each bar from 25 on, whose ma_spread tells (for a model to learn) what comes."""
    out: dict[str, list[tuple[str, dict[str, Any], int | None]]] = {"bars": [], "signals": []}
    for symbol in SYMBOLS:
        price = 100.0
        for i in range(end):
            if i >= start:
                out["bars"].append((symbol, bar_record(symbol, T0 + i * HOUR, price, 1000.0), None))
                if i >= 25:
                    spread = 0.05 if ups[i] else -0.05
                    value = signal(symbol, T0 + i * HOUR + 1, seq=i, ma_spread=spread, price=price)
                    out["signals"].append((symbol, value, None))
            price *= 1.01 if ups[i] else 0.99
    return out


def test_degraded_accuracy_retrains_and_the_enricher_swaps_mid_stream(
    fleet_factory: Any, tmp_path: Any
) -> None:
    fleet: Fleet = fleet_factory(trainer__report_dir=str(tmp_path / "models"), **SETTINGS)
    names = enricher_features(fleet.settings())
    rng = np.random.default_rng(11)
    rows = rng.normal(size=(300, len(names)))
    confident = train_booster(rows, (rng.random(300) < 0.9).astype(int), names, rounds=10, max_depth=2)
    v1 = model_record(
        confident, name="meta", version="v1", trained_ts_ms=1, feature_names=names, accuracy=0.9
    )
    publish_model(fleet.settings(), v1)
    ups = rng.random(200) < 0.3  # v1 says "right" to every signal; 70 % turn out wrong
    first, second = market(0, 100, ups), market(100, 200, ups)
    produce(fleet, "market.buffer", first["bars"])
    for worker in ("enricher", "labeler", "trainer"):
        fleet.start(worker)
    wait_consumed(fleet, ("market.buffer", "models"))
    produce(fleet, "signals.raw", first["signals"])

    deadline = time.monotonic() + 120
    new: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not new:
        models = [r["value"] for r in fleet.consume("models", 1, timeout=2)]
        new = [m for m in models if m["model_version"] != "v1"]
        time.sleep(1)
    triggers = [r["value"] for r in fleet.consume("models.retrain", 1, timeout=5)]
    # v1 (uncalibrated, confident, 70 % wrong) breaches accuracy and calibration at once
    reasons = {t["reason"] for t in triggers}
    assert triggers and "accuracy" in reasons and reasons <= {"accuracy", "calibration"}, fleet.log(
        "labeler"
    )[-2000:]
    assert all(t["model_version"] == "v1" and t["rolling_accuracy"] < 0.8 for t in triggers)
    assert new, fleet.log("trainer")[-3000:]
    why = [(json.loads(m["details"])["rejected_because"], m["training_samples"]) for m in new]
    assert {m["status"] for m in new} == {"live"} and len({m["model_version"] for m in new}) == 1, why
    assert new[0]["calibration"] and new[0]["feature_distribution"]  # shipped with the booster
    version = new[0]["model_version"]
    assert (tmp_path / "models" / version / "report.png").exists()

    produce(fleet, "market.buffer", second["bars"])
    produce(fleet, "signals.raw", second["signals"])
    total = len(first["signals"]) + len(second["signals"])
    enriched = [r["value"] for r in fleet.consume("signals.enriched", total, timeout=120)]
    assert len(enriched) == total and len({e["signal"]["signal_id"] for e in enriched}) == total
    for versions in model_versions(enriched).values():
        assert switches(versions) == 1 and versions[0] == "v1" and versions[-1] == version
    scored_by = {e["signal"]["signal_id"]: e["model_version"] for e in enriched}
    outcomes = [r["value"] for r in fleet.consume("signals.outcomes", total - len(SYMBOLS), timeout=60)]
    assert len(outcomes) >= total - len(SYMBOLS)  # every signal but each symbol's last is resolved
    assert all(o["model_version"] == scored_by[o["signal_id"]] for o in outcomes)
    later = [e for e in enriched if e["model_version"] == version]
    right = np.mean(
        [(e["meta_confidence"] > 0.5) == (e["signal"]["features"]["ma_spread"] > 0) for e in later]
    )
    assert right > 0.9  # the new model learned what the old one missed
