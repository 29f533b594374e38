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
    min_child_weight: float = 1.0,
) -> bytes:
    """A binary:logistic booster (tree_method hist) fitted on (features, labels), as UBJSON
    bytes; the same data and arguments give the same bytes."""
    data = xgb.DMatrix(features, label=labels, feature_names=list(feature_names), missing=np.nan)
    params = _params(max_depth, learning_rate, seed, nthread, min_child_weight)
    booster = xgb.train(params, data, num_boost_round=rounds)
    return bytes(booster.save_raw(raw_format="ubj"))


def early_stopped_rounds(
    features: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    feature_names: Sequence[str],
    *,
    max_rounds: int,
    patience: int,
    holdout: float,
    max_depth: int,
    seed: int,
    learning_rate: float,
    nthread: int,
    min_child_weight: float = 1.0,
) -> int:
    """How many rounds the data supports: fit on the earlier (1 - holdout) of the samples (in
    time order), stop when the log loss on the later `holdout` has not improved for `patience`
    rounds; the best round count (at least 1). Too little data or one class: 1."""
    cut = int(len(labels) * (1 - holdout))
    if cut < 2 or len(labels) - cut < 2 or len(set(labels[cut:].tolist())) < 2:
        return 1
    names = list(feature_names)
    fit = xgb.DMatrix(features[:cut], label=labels[:cut], feature_names=names, missing=np.nan)
    check = xgb.DMatrix(features[cut:], label=labels[cut:], feature_names=names, missing=np.nan)
    params = {**_params(max_depth, learning_rate, seed, nthread, min_child_weight), "eval_metric": "logloss"}
    booster = xgb.train(
        params,
        fit,
        num_boost_round=max_rounds,
        evals=[(check, "holdout")],
        early_stopping_rounds=patience,
        verbose_eval=False,
    )
    return max(int(booster.best_iteration) + 1, 1)


def _params(
    max_depth: int, learning_rate: float, seed: int, nthread: int, min_child_weight: float
) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": max_depth,
        "eta": learning_rate,
        "seed": seed,
        "nthread": nthread,
        "min_child_weight": min_child_weight,
    }


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
    calibration: str = "",
    feature_distribution: str = "",
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
        "calibration": calibration,
        "feature_distribution": feature_distribution,
    }
