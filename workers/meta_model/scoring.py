"""Loading, verifying and scoring a meta-model booster.

A booster is only ever loaded from its UBJSON bytes (XGBoost's own format; no pickle) and
scored with `inplace_predict` on one thread, so a worker's CPU use is predictable. The raw
score then goes through the record's calibration map (workers/meta_model/calibration.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import xgboost as xgb

from workers.meta_model.calibration import Calibration, CalibrationError

COLD_CONFIDENCE = 0.5  # the confidence of a signal scored before any model is active
NO_MODEL = "none"  # the model_version such a signal names
IDENTITY = Calibration()  # a booster's raw score, unchanged


class ModelRejected(Exception):
    """A ModelRecord that cannot become the active model; `reason` is the dead-letter code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class LoadedModel:
    version: str
    sha256: str
    feature_names: tuple[str, ...]
    trained_ts_ms: int
    booster: xgb.Booster
    calibration: Calibration = IDENTITY

    @cached_property
    def key(self) -> str:
        """What scores identically: the booster and the calibration map (computed once: a
        batch asks for it per signal and per model)."""
        return model_key(self.sha256, self.calibration.to_json())

    def predict(self, row: Sequence[float]) -> float:
        """Calibrated P(signal is right) for one feature row (NaN marks a missing feature)."""
        return self.predict_many([row])[0]

    def predict_many(self, rows: Sequence[Sequence[float]] | np.ndarray[Any, Any]) -> list[float]:
        """One call for many rows: the per-call cost of XGBoost (tens of microseconds) once.
        Each row scores exactly as it would alone (the map is applied one score at a time)."""
        return [self.calibration.one(p) for p in self.raw_many(rows)]

    def raw_many(self, rows: Sequence[Sequence[float]] | np.ndarray[Any, Any]) -> list[float]:
        """The booster's own scores, before calibration."""
        values = np.asarray(rows, dtype=np.float32)
        return [float(p) for p in self.booster.inplace_predict(values, validate_features=False)]


@lru_cache(maxsize=64)
def model_key(sha: str, calibration: str) -> str:
    return f"{sha}:{hashlib.sha256(calibration.encode()).hexdigest()[:16]}" if calibration else sha


def sha256(booster: bytes) -> str:
    return hashlib.sha256(booster).hexdigest()


def load(
    booster: bytes,
    *,
    version: str,
    feature_names: Sequence[str],
    trained_ts_ms: int,
    digest: str = "",
    calibration: str = "",
) -> LoadedModel:
    """A single-threaded booster from UBJSON bytes with its calibration map (JSON, "" for none);
    ModelRejected(MODEL_UNLOADABLE or MODEL_CALIBRATION) otherwise."""
    try:
        mapping = Calibration.from_json(calibration)
    except CalibrationError as exc:
        raise ModelRejected("MODEL_CALIBRATION", str(exc)) from exc
    try:
        loaded = xgb.Booster(params={"nthread": 1})
        loaded.load_model(bytearray(booster))
    except (xgb.core.XGBoostError, ValueError, TypeError) as exc:
        raise ModelRejected("MODEL_UNLOADABLE", f"the booster does not load: {exc}") from exc
    return LoadedModel(
        version, digest or sha256(booster), tuple(feature_names), trained_ts_ms, loaded, mapping
    )


def verify(
    record: Mapping[str, Any], feature_names: Sequence[str], active: Mapping[str, Any] | None
) -> LoadedModel:
    """The model of a ModelRecord after every check a swap needs, else ModelRejected:
    its booster matches its sha256, it expects exactly the features the enricher computes,
    it loads, its calibration map reads, and it predicts a probability on a probe row; and it is newer than `active`
    (the active model's record fields), so versions never go backwards."""
    booster = bytes(record["booster"])
    digest = sha256(booster)
    claimed = record.get("booster_sha256") or ""
    if claimed != digest:
        raise ModelRejected(
            "MODEL_CHECKSUM", f"booster sha256 is {digest}, the record says {claimed or 'nothing'}"
        )
    if list(record["feature_names"]) != list(feature_names):
        raise ModelRejected(
            "MODEL_FEATURES",
            f"the model expects {list(record['feature_names'])}, the enricher computes {list(feature_names)}",
        )
    if active is not None and record["trained_ts_ms"] <= active["trained_ts_ms"]:
        raise ModelRejected(
            "MODEL_STALE",
            f"{record['model_version']} (trained {record['trained_ts_ms']}) is not newer than the active "
            f"{active['model_version']} (trained {active['trained_ts_ms']})",
        )
    model = load(
        booster,
        version=record["model_version"],
        feature_names=feature_names,
        trained_ts_ms=record["trained_ts_ms"],
        digest=digest,
        calibration=record.get("calibration") or "",
    )
    try:
        probe = model.predict([0.0] * len(feature_names))
    except (xgb.core.XGBoostError, ValueError) as exc:
        raise ModelRejected("MODEL_PROBE", f"the booster fails on a probe row: {exc}") from exc
    if not (math.isfinite(probe) and 0.0 <= probe <= 1.0):
        raise ModelRejected("MODEL_PROBE", f"the probe row scored {probe}, not a probability")
    return model
