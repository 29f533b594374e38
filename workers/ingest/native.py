"""Ingest's compiled batch path (native/, the `regime_fleet_native` extension), when it is
installed: it decodes, checks and wraps raw events as bytes, many per call, and stops at the
first one it cannot vouch for, which the Python path (processor.py, the reference) then
handles. tests/unit/test_native_ingest.py proves both write the same bytes and dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from workers import topics
from workers.contracts.serde import single_object_header
from workers.ingest.settings import IngestSettings
from workers.processing.processor import Splice
from workers.processing.raw_batch import Encoded, RawMessage

BUFFER_SCHEMA = "RawInputBufferRecord"
Wrapped = tuple[str, Encoded]  # an accepted event's event_id, and its output to market.buffer


class NativeWrapper:
    """The extension's Wrapper, configured from the ingest settings and the current schemas."""

    def __init__(self, module: Any, settings: IngestSettings) -> None:
        self._wrapper = module.Wrapper(
            topics.BUFFER,
            single_object_header("RawMarketEvent"),
            single_object_header(BUFFER_SCHEMA),
            settings.min_event_ts_ms,
            settings.max_event_ts_ms,
            settings.max_future_ms,
        )

    def wrap(
        self, messages: Sequence[RawMessage], start: int, topic: str, now_ms: int, max_bytes: int
    ) -> list[Wrapped]:
        """messages[start:] for as long as the Python path would accept each one."""
        batch = messages if isinstance(messages, list) else list(messages)
        items: list[Wrapped] = self._wrapper.wrap(batch, start, topic, now_ms, max_bytes)
        return items


def splices(splice: Splice | None) -> bool:
    """Whether the edges splice raw events into single-object buffer records, the only bytes
    the compiled path writes (not in memory, not with Confluent framing)."""
    rest = {"source_topic": "", "source_partition": 0, "source_offset": 0, "ingest_ts_ms": 0}
    raw = single_object_header("RawMarketEvent")
    return splice is not None and splice(BUFFER_SCHEMA, raw, {**rest, "correlation_id": ""}) is not None


def load(settings: IngestSettings, splice: Splice | None) -> tuple[NativeWrapper | None, str]:
    """The compiled path, or None, and a sentence saying which path ingest runs and why."""
    if not settings.compiled:
        return None, "the Python path: ingest.compiled is false"
    if not splices(splice):
        return None, "the Python path: records are not spliced here (in memory, or Confluent framing)"
    try:
        import regime_fleet_native
    except ImportError as exc:
        return None, (
            f"the Python path: the compiled path is not installed ({exc}); "
            "`make venv` builds it where cargo is on PATH (native/)"
        )
    return NativeWrapper(regime_fleet_native, settings), "the compiled path (regime_fleet_native)"


def announce(path: str, group_id: str) -> None:
    """The one log line that says which ingest path runs (with the fields every worker line has)."""
    structlog.get_logger().info("ingest_path", worker="ingest", group_id=group_id, path=path)
