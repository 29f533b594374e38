"""The scheduler's settings section (`scheduler:`): how runs are cut, and the run backpressure.

Part of the run fingerprint, every field of it: max_inflight_runs too, as since fingerprints
were first recorded (recorded fingerprints must not change)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from workers.section import NOT_IN_RUN, RUNTIME_ONLY, Section


class SchedulerSettings(Section):
    in_run_fingerprint: ClassVar[bool] = True

    mode: Literal["boundary", "timer"] = "boundary"
    interval_ms: int = Field(60_000, ge=1)
    max_inflight_runs: Annotated[int, RUNTIME_ONLY] = Field(
        0, ge=0, description="Pause when the publisher lags more runs (0: off)."
    )
    compiled: Annotated[bool, RUNTIME_ONLY, NOT_IN_RUN] = Field(
        True, description="Read market.buffer with the compiled projection (native/) when installed."
    )
