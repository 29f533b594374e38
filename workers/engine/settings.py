"""The engine's settings section (`engine:`): the regime classifier and its hysteresis, and
how a run is attempted (which changes how it runs, not what it computes)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from workers.section import NOT_IN_RUN, RUNTIME_ONLY, Section


class EngineSettings(Section):
    in_run_fingerprint: ClassVar[bool] = True

    mode: Literal["truth", "hysteresis"] = "truth"
    trend_threshold: float = Field(0.5, gt=0, description="|drift t-stat| above which a trend is called.")
    high_vol_ratio: float = Field(1.5, gt=1, description="Recent vol / long vol above which HIGH_VOLATILITY.")
    vol_lookback: int = Field(20, ge=2)
    vol_ceiling: float = Field(0.45, gt=0, description="Annualized vol at or above which HIGH_VOLATILITY.")
    progress_required: int = Field(3, ge=1, description="Hysteresis: agreeing runs to confirm a switch.")
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Hysteresis: weaker observations do not count."
    )
    max_attempts: Annotated[int, NOT_IN_RUN] = Field(3, ge=1)
    run_timeout_ms: Annotated[int, RUNTIME_ONLY, NOT_IN_RUN] = Field(
        30_000, ge=1, description="A run that takes longer fails with TIMEOUT (not replayable: say so)."
    )
