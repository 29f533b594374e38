"""The ingest worker's settings section (`ingest:`): what a raw event must satisfy to be
buffered, and the buffer backpressure."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from workers.section import RUNTIME_ONLY, Section


class IngestSettings(Section):
    dedupe_window: int = Field(10_000, ge=0, description="Recent event_ids remembered per partition.")
    min_event_ts_ms: int = 315_532_800_000  # 1980-01-01
    max_event_ts_ms: int = 4_102_444_800_000  # 2100-01-01
    max_future_ms: int = Field(
        86_400_000, ge=0, description="Events stamped further ahead of the wall clock are dead-lettered."
    )
    compiled: Annotated[bool, RUNTIME_ONLY] = Field(
        True, description="Use the compiled batch path (native/) when installed; false: the Python path."
    )
    buffer_capacity: Annotated[int, RUNTIME_ONLY] = Field(
        0, ge=0, description="Pause when the scheduler lags more records (0: off)."
    )
