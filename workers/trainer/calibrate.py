"""A calibration map for a booster trained elsewhere (`regime-fleet model publish --booster`):
fitted on labelled data the operator names, with the trainer's method, or refused with the
reason. Without it the enricher would publish the booster's raw score as meta_confidence.

The data should be data the booster was not trained on (a later range of market.buffer, the
live outcomes since): a map fitted in-sample learns the booster's in-sample confidence, which
is the overconfidence calibration is there to remove.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.meta_model import ModelRejected, load
from workers.meta_model import calibration as cal
from workers.meta_model.drift import distribution
from workers.meta_model.training import Dataset
from workers.trainer.settings import TrainerSettings


class CalibrationRefused(Exception):
    """No calibration map can be fitted for this booster on this data; the message says why
    and what to do."""


def fitted(settings: FleetSettings, booster: bytes, data: Dataset) -> tuple[str, str, dict[str, Any]]:
    """(calibration map JSON, feature distribution JSON, what the map did on the data): the
    trainer's method (`trainer.calibration`) fitted on the booster's raw scores of `data`."""
    t = TrainerSettings.of(settings)
    if t.calibration == "none":
        raise CalibrationRefused(
            "trainer.calibration is none: set it to platt or isotonic to publish a calibrated model"
        )
    if len(data.labels) < t.min_samples:
        raise CalibrationRefused(
            f"{len(data.labels)} labelled signals in the calibration data; a map needs at least "
            f"{t.min_samples} (trainer.min_samples): give a longer range or more outcomes"
        )
    if len(set(data.labels.tolist())) < 2:
        raise CalibrationRefused("every label in the calibration data is the same: no map can be fitted")
    try:
        model = load(booster, version="calibration", feature_names=data.names, trained_ts_ms=0)
        raw = np.asarray(model.raw_many(data.rows))
    except (ModelRejected, ValueError) as exc:
        raise CalibrationRefused(f"the booster cannot score the calibration data: {exc}") from exc
    mapping = cal.fit(t.calibration, raw, data.labels)
    p = mapping.many(raw)
    summary = {
        "method": t.calibration,
        "samples": len(data.labels),
        "positive_rate": float(np.mean(data.labels)),
        "ece_raw": cal.expected_calibration_error(data.labels, raw, t.ece_bins),
        "ece_calibrated": cal.expected_calibration_error(data.labels, p, t.ece_bins),
        "brier_raw": cal.brier(data.labels, raw),
        "brier_calibrated": cal.brier(data.labels, p),
        "in_sample": True,  # the map's own fitting data: the held-out numbers come from a later range
        "data": data.provenance,
    }
    features = json.dumps(distribution(data.rows, data.names), sort_keys=True)
    return mapping.to_json(), features, summary
