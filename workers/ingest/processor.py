"""The pure ingest core: validate, dedupe by event_id, wrap as RawInputBufferRecord."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from workers.config import IngestSettings
from workers.contracts.errors import InvalidEvent
from workers.contracts.identity import correlation_id
from workers.contracts.validation import check_raw_event
from workers.runtime.records import Output, Record, dead_letter
from workers.state.store import StoreView

DLQ = "market.raw.dlq"
BUFFER = "market.buffer"


class DedupeWindow:
    """The last `size` accepted event_ids of one partition."""

    def __init__(self, size: int, seed: Iterable[str] = ()) -> None:
        self.size = size
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        for event_id in seed:
            self.add(event_id)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        if self.size == 0 or event_id in self._ids:
            return
        self._order.append(event_id)
        self._ids.add(event_id)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())


class IngestProcessor:
    name = "ingest"
    stores: tuple[str, ...] = ()

    def __init__(
        self,
        settings: IngestSettings,
        on_duplicate: Callable[[], None] = lambda: None,
        encode_buffered: Callable[[bytes, dict[str, Any]], bytes | None] = lambda raw, rest: None,
    ) -> None:
        self.settings = settings
        self.windows: dict[int, DedupeWindow] = {}
        self.on_duplicate = on_duplicate
        # Optional fast path: splice the raw event's bytes into the buffer record (None = no).
        self.encode_buffered = encode_buffered

    def seed(self, partition: int, event_ids: Iterable[str]) -> None:
        """Reset a partition's window to the event_ids already accepted into the buffer."""
        self.windows[partition] = DedupeWindow(self.settings.dedupe_window, event_ids)

    def process(self, record: Record, stores: Mapping[str, StoreView], now_ms: int) -> list[Output]:
        event = record.value
        try:
            check_raw_event(
                event,
                min_ts_ms=self.settings.min_event_ts_ms,
                max_ts_ms=self.settings.max_event_ts_ms,
            )
        except InvalidEvent as exc:
            return [dead_letter(record, DLQ, exc.code, exc.message)]
        window = self.windows.setdefault(record.partition, DedupeWindow(self.settings.dedupe_window))
        if event["event_id"] in window:
            self.on_duplicate()
            return []
        window.add(event["event_id"])
        corr = record.headers.get("correlation_id") or correlation_id(event["event_id"])
        rest: dict[str, Any] = {
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
            "ingest_ts_ms": now_ms,
            "correlation_id": corr,
        }
        buffered = self.encode_buffered(record.raw, rest) or {"event": dict(event), **rest}
        headers = {
            "event_type": event["kind"],
            "schema": "RawInputBufferRecord",
            "correlation_id": corr,
        }
        # Pinned to the input partition: a symbol keeps one partition through the whole fleet.
        return [Output(BUFFER, event["symbol"], buffered, headers, partition=record.partition)]
