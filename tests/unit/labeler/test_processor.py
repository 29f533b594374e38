"""The labeler core: outcomes from later market data (also data that came before the signal
did), and one retrain trigger per condition."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.samples import CountingMetrics
from workers.config import load_settings
from workers.enricher.samples import bar_record, signal
from workers.labeler.processor import LabelerProcessor
from workers.meta_model.drift import distribution
from workers.processing import Edges
from workers.processing.driver import Driver
from workers.topology import load_topology

T0 = 1_700_000_000_000
MIN = 60_000


def driver(**labeler: Any) -> Driver:
    d = Driver(load_topology(1))
    settings = load_settings(partitions=1, labeler=labeler)
    d.processors["labeler"] = LabelerProcessor(settings, Edges(reads=d, metrics=CountingMetrics()))
    return d


def enriched(
    seq: int, ts: int, direction: int = 1, confidence: float = 0.7, version: str = "v1"
) -> dict[str, Any]:
    return {
        "signal": signal("S", ts, seq=seq, direction=direction),  # price 100
        "meta_confidence": confidence,
        "model_version": version,
        "feature_values": {"vol_20": 0.01 * 20**0.5},  # sigma 0.01 per observation
    }


def bar(d: Driver, i: int, close: float) -> None:
    d.feed("market.buffer", "S", bar_record("S", T0 + i * MIN, close, 100.0), partition=0)


def outcomes(d: Driver) -> list[dict[str, Any]]:
    return [dict(r.value) for r in d.received("signals.outcomes")]


def test_a_signal_resolves_at_its_first_barrier() -> None:
    d = driver(barriers={"profit_taking": 2.0, "stop_loss": 1.0, "max_hold": 10})
    d.feed("signals.enriched", "S", enriched(1, T0), partition=0)
    for i, close in enumerate([100.5, 101.0, 102.1], start=1):  # upper at 100*e^0.02 = 102.02
        bar(d, i, close)
    (done,) = outcomes(d)
    assert (done["label"], done["barrier"], done["predicted"], done["model_version"]) == (1, "UPPER", 1, "v1")
    assert done["resolved_ts_ms"] == T0 + 3 * MIN


def test_market_data_that_came_first_still_counts_and_flat_signals_are_not_labelled() -> None:
    d = driver(barriers={"max_hold": 3})
    for i, close in enumerate([99.0, 100.5, 98.0], start=0):
        bar(d, i, close)  # bar 0 is at the signal's own time: not after it
    d.feed("signals.enriched", "S", enriched(1, T0, direction=-1), partition=0)
    d.feed("signals.enriched", "S", enriched(2, T0, direction=0), partition=0)
    (done,) = outcomes(d)
    assert done["signal_id"] == "S-sig-1" and done["barrier"] == "LOWER" and done["label"] == 1


def test_degraded_accuracy_triggers_once_per_version_and_condition() -> None:
    d = driver(window=10, min_samples=10, accuracy_drop=0.1, max_ece=1.0, barriers={"max_hold": 1})
    d.feed(
        "models",
        "meta",
        {"model_name": "meta", "model_version": "v1", "accuracy": 0.8, "status": "live"},
        partition=0,
    )
    for i in range(30):  # confident longs that all lose: accuracy 0 (the calibration check is off)
        d.feed("signals.enriched", "S", enriched(i, T0 + i * MIN), partition=0)
        bar(d, i + 1, 99.0)
    triggers = [dict(r.value) for r in d.received("models.retrain")]
    assert len(outcomes(d)) == 30 and len(triggers) == 1
    (trigger,) = triggers
    assert (trigger["reason"], trigger["model_version"], trigger["samples"]) == ("accuracy", "v1", 10)
    assert trigger["rolling_accuracy"] == 0.0 and abs(trigger["threshold"] - 0.7) < 1e-9


def test_a_count_of_outcomes_triggers_even_without_a_model() -> None:
    d = driver(retrain_every=5, barriers={"max_hold": 1})
    for i in range(12):
        d.feed(
            "signals.enriched", "S", enriched(i, T0 + i * MIN, version="none", confidence=0.5), partition=0
        )
        bar(d, i + 1, 101.0)
    (trigger,) = [dict(r.value) for r in d.received("models.retrain")]
    assert (trigger["reason"], trigger["model_version"], trigger["samples"]) == ("outcomes", "none", 5)


def test_a_calibration_breach_triggers_once_naming_the_live_ece() -> None:
    d = driver(window=40, min_samples=40, max_ece=0.1, ece_bins=5, barriers={"max_hold": 1})
    # confidence 0.7, right half the time: ECE 0.2; accuracy (0.5) is not what fires
    for i in range(100):
        d.feed("signals.enriched", "S", enriched(i, T0 + 2 * i * MIN), partition=0)
        bar(d, 2 * i + 1, 101.0 if i % 2 else 99.0)
    (trigger,) = [dict(r.value) for r in d.received("models.retrain")]
    evidence = json.loads(trigger["evidence"])
    assert (trigger["reason"], trigger["samples"], trigger["threshold"]) == ("calibration", 40, 0.1)
    assert evidence["ece"] == pytest.approx(0.2) and evidence["bound"] == 0.1


def test_a_calibrated_model_does_not_trigger() -> None:
    d = driver(window=40, min_samples=40, max_ece=0.1, ece_bins=5, barriers={"max_hold": 1})
    for i in range(100):  # confidence 0.5, right half the time
        d.feed("signals.enriched", "S", enriched(i, T0 + 2 * i * MIN, confidence=0.5), partition=0)
        bar(d, 2 * i + 1, 101.0 if i % 2 else 99.0)
    assert list(d.received("models.retrain")) == [] and len(outcomes(d)) == 100


def test_feature_drift_triggers_once_naming_each_drifted_feature_and_its_psi() -> None:
    rng = np.random.default_rng(0)
    names = ["vol_20", "strength"]
    training = np.column_stack([np.full(2000, 0.01 * 20**0.5), rng.normal(1.0, 0.1, 2000)])
    shipped = json.dumps(distribution(training, names))
    d = driver(drift_window=60, max_psi=0.25, barriers={"max_hold": 1})
    d.feed(
        "models",
        "meta",
        {"model_name": "meta", "model_version": "v1", "accuracy": 0.5, "feature_distribution": shipped},
        partition=0,
    )
    for i in range(60):  # like training
        d.feed("signals.enriched", "S", scored(i, {"strength": float(rng.normal(1.0, 0.1))}), partition=0)
    assert list(d.received("models.retrain")) == []
    for i in range(60, 240):  # strength moved by three of its standard deviations
        d.feed("signals.enriched", "S", scored(i, {"strength": float(rng.normal(1.3, 0.1))}), partition=0)
    (trigger,) = [dict(r.value) for r in d.received("models.retrain")]
    evidence = json.loads(trigger["evidence"])
    assert trigger["reason"] == "feature_drift" and set(evidence["psi"]) == {"strength"}
    assert evidence["psi"]["strength"] > 1.0 and trigger["samples"] == 60


def scored(seq: int, features: dict[str, float]) -> dict[str, Any]:
    event = enriched(seq, T0 + seq * MIN)
    return {**event, "feature_values": {**event["feature_values"], **features}}
