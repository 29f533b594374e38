"""Calibration maps: both fix a miscalibrated score, stay monotone, read back from JSON bit for
bit; the scores that judge them (ECE, Brier skill) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.meta_model.calibration import (
    Calibration,
    CalibrationError,
    brier_skill,
    expected_calibration_error,
    fit,
)


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True P = sigmoid(z); the raw score claims sigmoid(3 z): confident about noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 1 / (1 + np.exp(-3 * z)), labels


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_map_fitted_on_one_sample_calibrates_another(method: str) -> None:
    raw, labels = overconfident(20_000, 1)
    mapping = fit(method, raw, labels)
    test_raw, test_labels = overconfident(20_000, 2)
    assert expected_calibration_error(test_labels, test_raw) > 0.1
    assert expected_calibration_error(test_labels, mapping.many(test_raw)) < 0.02
    grid = np.linspace(0, 1, 1001)
    assert np.all(np.diff(mapping.many(grid)) >= 0)  # monotone: ranking (AUC) is kept
    again = Calibration.from_json(mapping.to_json())
    assert again == mapping and again.many(test_raw).tobytes() == mapping.many(test_raw).tobytes()


def test_platt_recovers_the_true_slope() -> None:
    raw, labels = overconfident(50_000, 3)
    mapping = fit("platt", raw, labels)
    assert mapping.a == pytest.approx(1 / 3, abs=0.03) and mapping.b == pytest.approx(0, abs=0.05)


def test_an_anti_correlated_score_maps_to_the_base_rate_not_upside_down() -> None:
    raw, labels = overconfident(5000, 4)
    mapping = fit("platt", 1 - raw, labels)
    assert mapping.a == 0.0 and mapping.one(0.1) == mapping.one(0.9)


def test_ece_and_brier_skill_by_hand() -> None:
    labels = np.array([1, 0, 1, 1])
    p = np.array([0.9, 0.9, 0.3, 0.3])  # bins 9: predicted 0.9, observed 0.5; bin 3: 0.3 vs 1.0
    assert expected_calibration_error(labels, p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.7)
    assert brier_skill(labels, np.full(4, 0.75)) == pytest.approx(0.0)
    assert brier_skill(labels, labels.astype(float)) == pytest.approx(1.0)
    assert math.isnan(brier_skill(np.array([1, 1]), np.array([0.5, 0.5])))


def test_an_unreadable_map_is_a_clear_error() -> None:
    assert Calibration.from_json("").one(0.37) == 0.37
    for bad in (
        '{"method": "magic"}',
        '{"method": "platt", "a": -1, "b": 0}',
        "{",
        '{"method": "isotonic", "x": [2, 1], "y": [0, 1]}',
    ):
        with pytest.raises(CalibrationError):
            Calibration.from_json(bad)
