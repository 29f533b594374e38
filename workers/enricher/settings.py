"""The enricher's settings section (`enricher:`, docs/enrichment.md): features, VPIN, the
regime weight and the meta-model it follows."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from workers.section import Section

# The regime engine's regimes (workers/regime/classifier.py REGIMES, which a unit test keeps
# equal): not imported from there, so settings load without the engine's numpy.
REGIMES = ("TREND_UP", "TREND_DOWN", "RANGE", "HIGH_VOLATILITY")


class SideWeights(BaseModel):
    """A regime's full-confidence weights for long and short signals (flat signals weigh 1)."""

    long: float = Field(1.0, ge=0, le=1)
    short: float = Field(1.0, ge=0, le=1)


def _default_regime_weights() -> dict[str, SideWeights]:
    """Against the trend counts least; a range or high volatility trims both sides."""
    return {
        "TREND_UP": SideWeights(long=1.0, short=0.3),
        "TREND_DOWN": SideWeights(long=0.3, short=1.0),
        "RANGE": SideWeights(long=0.8, short=0.8),
        "HIGH_VOLATILITY": SideWeights(long=0.5, short=0.5),
    }


class EnricherSettings(Section):
    """The enricher (docs/enrichment.md): features, VPIN, regime weight, the meta-model."""

    return_horizons: list[int] = Field(
        default_factory=lambda: [1, 5, 20], description="Log returns over these many prices."
    )
    vol_horizons: list[int] = Field(
        default_factory=lambda: [5, 20, 60], description="Realised volatility over these many returns."
    )
    vpin_buckets: int = Field(50, ge=1, le=1000, description="VPIN averages the last n volume buckets.")
    vpin_buckets_per_day: int = Field(50, ge=1, description="Bucket volume = average daily volume / this.")
    vpin_bucket_volume: float = Field(0.0, ge=0, description="A fixed bucket volume (0: from the ADV).")
    vpin_adv_days: int = Field(20, ge=1, le=250, description="Completed days the ADV averages.")
    vpin_sigma_halflife: int = Field(
        50, ge=1, description="Half-life, in returns, of the return volatility that classifies volume."
    )
    regime_history: int = Field(
        32, ge=1, le=1000, description="Regime decisions kept per symbol while regime_history_ms is 0."
    )
    regime_history_ms: int = Field(
        0,
        ge=0,
        description="Event time of regime decisions kept per symbol behind its latest (plus the one valid "
        "then); older signals are flagged REGIME_BEYOND_RETENTION. 0: the last regime_history decisions.",
    )
    max_pending: int = Field(
        256, ge=1, description="Market records per symbol held for signals not yet seen (event time)."
    )
    signal_features: list[str] = Field(
        default_factory=lambda: ["ma_spread"],
        description="Entries of a signal's features map the model uses; a signal without them is rejected.",
    )
    max_signal_features: int = Field(64, ge=1, description="A larger features map is rejected.")
    regime_weights: dict[str, SideWeights] = Field(default_factory=_default_regime_weights)
    unknown_regime_weight: float = Field(0.5, ge=0, le=1, description="Weight while a symbol has no regime.")
    model_name: str = Field("meta", min_length=1, description="The key on the models topic to follow.")

    @field_validator("return_horizons", "vol_horizons")
    @classmethod
    def _horizons(cls, value: list[int]) -> list[int]:
        if not value or any(h < 1 or h > 1000 for h in value) or len(set(value)) != len(value):
            raise ValueError("horizons must be distinct integers in 1..1000")
        return sorted(value)

    @field_validator("regime_weights")
    @classmethod
    def _regimes(cls, value: dict[str, SideWeights]) -> dict[str, SideWeights]:
        unknown = sorted(set(value) - set(REGIMES))
        if unknown:
            raise ValueError(f"unknown regime(s) {unknown}; regimes: {list(REGIMES)}")
        return {**_default_regime_weights(), **value}

    @model_serializer(mode="wrap")
    def _without_unset_time_bound(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """regime_history_ms at 0 is left out: configurations recorded before it existed, and
        their fingerprints, stay byte for byte what they were (and replay so)."""
        data: dict[str, Any] = handler(self)
        if data.get("regime_history_ms") == 0:
            del data["regime_history_ms"]
        return data

    def fingerprint(self) -> str:
        """Hash of everything that changes an enriched signal (recorded in its provenance)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
