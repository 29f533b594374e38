"""Training on real index bars: features from the enricher's core, purged CV, the gate, and a
byte-identical booster for the same data and settings."""

from __future__ import annotations

import json

import pytest

from harness.demo.data import index_events
from workers.config import load_settings
from workers.enricher.processor import EnricherProcessor
from workers.meta_model.training import TrainingError, dataset_from_bars, train


@pytest.fixture(scope="module")
def bars() -> list[dict]:
    events = [e for s in ("SPX", "NDX") for e in index_events(s, days=1500)]
    return [e for e in events if e["kind"] == "BAR"]


def settings(**trainer: object):
    return load_settings(partitions=1, trainer={"rounds": 30, "folds": 4, "auc_floor": 0.0, **trainer})


def test_a_model_from_bars_uses_the_enricher_features_and_is_reproducible(bars: list[dict]) -> None:
    s = settings()
    data = dataset_from_bars(s, bars, provenance={"source": "arch"})
    assert data.names == EnricherProcessor(s).feature_names
    assert len(data.labels) > 100 and 0 < data.labels.mean() < 1
    assert (data.t1 >= data.t0).all()
    first = train(s, data, version="v1", trained_ts_ms=1)
    again = train(s, data, version="v1", trained_ts_ms=1)
    assert first.record["booster"] == again.record["booster"]  # byte-identical
    report = json.loads(first.record["details"])
    assert len(report["folds"]) == 4 and report["data"]["source"] == "arch"
    assert first.record["training_samples"] == len(data.labels)
    assert first.record["calibration"] == again.record["calibration"] != ""
    # 200-odd crossover signals on two indices hold no evidence of skill: the gate says so
    assert first.record["status"] == "rejected"
    assert [c["criterion"] for c in report["gate"]] == ["auc_lower_bound", "brier_skill", "ece"]


def test_the_gate_rejects_a_weak_candidate(bars: list[dict]) -> None:
    s = settings(auc_floor=0.99)
    result = train(s, dataset_from_bars(s, bars), version="v2", trained_ts_ms=2)
    assert result.record["status"] == "rejected"
    assert "auc_lower_bound" in result.report["rejected_because"]
    assert "is not above 0.99" in result.report["rejected_because"]


def test_too_few_bars_or_bad_prices_are_clear_errors(bars: list[dict]) -> None:
    s = settings()
    with pytest.raises(TrainingError, match="at least 1000"):
        dataset_from_bars(s, bars[:500])
    broken = [dict(b) for b in bars]
    broken[10] = {**broken[10], "bar": {**broken[10]["bar"], "close": float("nan")}}
    with pytest.raises(TrainingError, match="NaN"):
        dataset_from_bars(s, broken)
