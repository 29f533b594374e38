"""The gate refuses chance and lets skill through calibrated: random labels are rejected with
the failing criterion named; a learnable case is accepted and its shipped probabilities are
calibrated on data it never saw; a candidate must beat the active model on the same folds."""

from __future__ import annotations

import json

import numpy as np

from workers.config import load_settings
from workers.meta_model.calibration import expected_calibration_error
from workers.meta_model.gate import bootstrap_auc
from workers.meta_model.scoring import verify
from workers.meta_model.training import Dataset, train

NAMES = ["x_signal", "x_noise", "x_other"]


def synthetic(n: int, seed: int, strength: float) -> Dataset:
    """Rows whose first feature drives P(label = 1) = sigmoid(strength * x) (0: coin flips)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, len(NAMES)))
    p = 1 / (1 + np.exp(-strength * rows[:, 0]))
    labels = (rng.random(n) < p).astype(int)
    t0 = np.arange(n, dtype=np.int64) * 1000
    return Dataset(list(NAMES), rows, labels, t0, t0 + 500, {"source": f"synthetic seed {seed}"})


def settings(**trainer: object):
    return load_settings(partitions=1, trainer={"bootstrap_resamples": 300, **trainer})


def test_random_labels_are_rejected_with_the_failing_criterion_named() -> None:
    result = train(settings(), synthetic(3000, 1, 0.0), version="coin", trained_ts_ms=1)
    assert result.record["status"] == "rejected"
    verdicts = {c["criterion"]: c["verdict"] for c in result.report["gate"]}
    assert verdicts["auc_lower_bound"] == "fail"
    assert "auc_lower_bound" in result.report["rejected_because"]
    # the record says so too: the enricher never activates it
    assert json.loads(result.record["details"])["status"] == "rejected"


def test_a_learnable_case_is_accepted_and_calibrated_on_held_out_data() -> None:
    s = settings()
    result = train(s, synthetic(3000, 2, 1.5), version="skill", trained_ts_ms=1)
    assert result.record["status"] == "live", result.report["rejected_because"]
    assert all(c["verdict"] == "pass" for c in result.report["gate"])
    model = verify(result.record, NAMES, None)  # as the enricher loads it
    fresh = synthetic(20_000, 3, 1.5)
    confidence = np.asarray(model.predict_many(fresh.rows))
    assert expected_calibration_error(fresh.labels, confidence) <= s.section("trainer").max_ece
    raw = np.asarray(model.raw_many(fresh.rows))
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(confidence[order]) >= 0)  # calibrated scores are monotone in raw ones


def test_a_candidate_must_beat_the_active_model_on_the_same_folds() -> None:
    s = settings()
    data = synthetic(3000, 4, 1.5)
    strong = train(s, data, version="strong", trained_ts_ms=1).record
    # the same data again: no better than the model already trained on all of it
    again = train(s, data, version="again", trained_ts_ms=2, active=strong)
    verdicts = {c["criterion"]: c["verdict"] for c in again.report["gate"]}
    assert verdicts["brier_vs_active"] == "fail" and again.record["status"] == "rejected"
    weak = train(s, synthetic(3000, 5, 0.0), version="weak", trained_ts_ms=3).record
    better = train(s, data, version="better", trained_ts_ms=4, active=weak)
    assert {c["criterion"]: c["verdict"] for c in better.report["gate"]}["brier_vs_active"] == "pass"
    assert better.record["status"] == "live"


def test_the_bootstrap_interval_brackets_the_auc_and_narrows_with_data() -> None:
    rng = np.random.default_rng(0)
    for n, width in ((200, 0.25), (20_000, 0.03)):
        y = rng.integers(0, 2, n)
        scores = y * 0.5 + rng.random(n)  # AUC 0.875 in expectation
        low, high = bootstrap_auc(y, scores, resamples=400, confidence=0.95, seed=1)
        assert low < 0.875 < high and high - low < width
