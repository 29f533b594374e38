"""Fitting a meta-model booster and wrapping it as a ModelRecord (the trainer's building
blocks; the tests, the bench and the demo use them too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xgboost as xgb

from workers.meta_model.scoring import sha256


def train_booster(
    features: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    feature_names: Sequence[str],
    *,
    rounds: int = 100,
    max_depth: int = 4,
    seed: int = 0,
    learning_rate: float = 0.1,
    nthread: int = 1,
) -> bytes:
    """A binary:logistic booster (tree_method hist) fitted on (features, labels), as UBJSON
    bytes; the same data and arguments give the same bytes."""
    data = xgb.DMatrix(features, label=labels, feature_names=list(feature_names), missing=np.nan)
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": max_depth,
        "eta": learning_rate,
        "seed": seed,
        "nthread": nthread,
    }
    booster = xgb.train(params, data, num_boost_round=rounds)
    return bytes(booster.save_raw(raw_format="ubj"))


def model_record(
    booster: bytes,
    *,
    name: str,
    version: str,
    trained_ts_ms: int,
    feature_names: Sequence[str],
    accuracy: float = 0.0,
    auc: float = 0.0,
    training_samples: int = 0,
    status: str = "live",
    details: str = "",
) -> dict[str, Any]:
    """A ModelRecord for the `models` topic, its booster's sha256 filled in."""
    return {
        "model_name": name,
        "model_version": version,
        "trained_ts_ms": trained_ts_ms,
        "feature_names": list(feature_names),
        "booster": booster,
        "booster_sha256": sha256(booster),
        "accuracy": accuracy,
        "auc": auc,
        "training_samples": training_samples,
        "status": status,
        "details": details,
    }
