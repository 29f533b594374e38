"""A RawMarketEvent as ingest writes it to market.buffer, for runs that skip ingest (training's
in-memory enrichment, samples)."""

from __future__ import annotations

from typing import Any


def buffered(event: dict[str, Any], source_offset: int = 0) -> dict[str, Any]:
    """The RawInputBufferRecord wrapping `event` (source market.raw[0]@source_offset)."""
    return {
        "event": event,
        "source_topic": "market.raw",
        "source_partition": 0,
        "source_offset": source_offset,
        "ingest_ts_ms": 0,
        "correlation_id": "",
    }
