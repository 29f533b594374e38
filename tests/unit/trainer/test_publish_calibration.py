"""`model publish --booster` ships a calibration map fitted on the data given, or refuses with
the reason: an overconfident booster's map brings its ECE down on the data; too little data,
one class or `trainer.calibration: none` are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workers.config import load_settings
from workers.meta_model import load, train_booster
from workers.meta_model.calibration import Calibration, expected_calibration_error
from workers.meta_model.training import Dataset
from workers.trainer.calibrate import CalibrationRefused, fitted

NAMES = ["a", "b", "c"]


def data(n: int, seed: int, labels: np.ndarray | None = None) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-rows[:, 0]))).astype(int) if labels is None else labels
    return Dataset(list(NAMES), rows, y, np.arange(n), np.arange(n) + 1, {"source": "test"})


@pytest.fixture(scope="module")
def overconfident() -> bytes:
    train = data(300, 1)
    return train_booster(train.rows, train.labels, NAMES, rounds=200, max_depth=6, learning_rate=0.3)


def test_the_map_is_fitted_on_the_data_given_and_calibrates_fresh_data(overconfident: bytes) -> None:
    settings = load_settings(partitions=1)
    mapping, distribution, summary = fitted(settings, overconfident, data(3000, 2))
    assert json.loads(mapping)["method"] == "platt" and summary["samples"] == 3000
    assert summary["ece_calibrated"] < summary["ece_raw"] / 2
    assert set(json.loads(distribution)) == set(NAMES)
    fresh = data(5000, 3)
    model = load(overconfident, version="v", feature_names=NAMES, trained_ts_ms=0)
    raw = np.asarray(model.raw_many(fresh.rows))
    after = Calibration.from_json(mapping).many(raw)
    assert (
        expected_calibration_error(fresh.labels, after, 10)
        < 0.05
        < expected_calibration_error(fresh.labels, raw, 10)
    )


@pytest.mark.parametrize(
    ("dataset", "config", "why"),
    [
        (data(50, 2), {}, "a map needs at least 100"),
        (data(500, 2, labels=np.ones(500, dtype=int)), {}, "every label"),
        (data(500, 2), {"calibration": "none"}, "trainer.calibration is none"),
    ],
)
def test_no_map_is_refused_with_the_reason(
    overconfident: bytes, dataset: Dataset, config: dict, why: str
) -> None:
    with pytest.raises(CalibrationRefused, match=why):
        fitted(load_settings(partitions=1, trainer=config), overconfident, dataset)


def test_a_booster_that_cannot_score_the_data_is_refused() -> None:
    with pytest.raises(CalibrationRefused, match="cannot score"):
        fitted(load_settings(partitions=1), b"not a booster", data(500, 2))
