"""The labeler's settings section (`labeler:`): triple-barrier outcomes of enriched signals
and the retrain triggers. Its BarrierSettings are the trainer's too (one way to label)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from workers.section import RUNTIME_ONLY, Section


class BarrierSettings(BaseModel):
    """Triple-barrier labels (docs/training.md): barriers in sigmas, the vertical one in observations."""

    profit_taking: float = Field(2.0, gt=0)
    stop_loss: float = Field(2.0, gt=0)
    max_hold: int = Field(20, ge=1, le=10_000, description="Observations before the vertical barrier.")
    vol_horizon: int = Field(
        20, ge=1, description="sigma = vol_h / sqrt(h) of the enriched signal (h in enricher.vol_horizons)."
    )


class LabelerSettings(Section):
    """The labeler/monitor worker: outcomes of enriched signals and retrain triggers."""

    barriers: BarrierSettings = Field(default_factory=lambda: BarrierSettings())
    history: int = Field(
        64, ge=1, le=10_000, description="Recent observations kept per symbol for late signals."
    )
    max_open: int = Field(
        1000, ge=1, description="Open signals per symbol; the oldest resolve VERTICAL beyond it."
    )
    window: int = Field(200, ge=10, description="Outcomes in the rolling accuracy per model version.")
    min_samples: int = Field(50, ge=1, description="Outcomes before accuracy can trigger.")
    accuracy_drop: float = Field(
        0.1, gt=0, le=1, description="Trigger below the model's validation accuracy minus this."
    )
    retrain_every: int = Field(0, ge=0, description="Trigger after this many outcomes of one model (0: off).")
    max_ece: float = Field(
        0.12,
        gt=0,
        le=1,
        description="Trigger when the live ECE over the window (after min_samples) is above this; a "
        "calibrated model's ECE is about 0.4 * sqrt(ece_bins / window) from sampling alone.",
    )
    ece_bins: int = Field(5, ge=2, le=50, description="Equal-width confidence bins of the live ECE.")
    max_psi: float = Field(
        0.25,
        gt=0,
        description="Trigger when a feature's PSI against its training distribution is above this.",
    )
    drift_window: int = Field(
        500, ge=50, description="Scored signals per PSI check (tumbling windows per model version)."
    )
    shadow_window: int = Field(
        500,
        ge=10,
        le=100_000,
        description="Paired outcomes (champion and challenger scored the same signal) in a challenger's "
        "rolling live scores, per partition.",
    )
    # The promotion rule (`regime-fleet model promote`): read by the CLI, not by the labeler.
    promote_min_outcomes: Annotated[int, RUNTIME_ONLY] = Field(
        200, ge=2, description="Paired live outcomes (all partitions) a challenger needs before promotion."
    )
    promote_confidence: Annotated[float, RUNTIME_ONLY] = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="One-sided confidence of the lower bound of the challenger's mean Brier gain (> 0 to promote).",
    )

    @model_serializer(mode="wrap")
    def _without_default_drift_checks(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The calibration and drift checks' settings are left out at their defaults: the
        configuration recorded before they existed, and its fingerprint, stay byte for byte."""
        data: dict[str, Any] = handler(self)
        for name in ("max_ece", "ece_bins", "max_psi", "drift_window", "shadow_window"):
            if name in data and data[name] == type(self).model_fields[name].default:
                del data[name]
        return data
