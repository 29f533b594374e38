"""The pure ingest core: validate, check trust (key, event time), dedupe by event_id, wrap as
RawInputBufferRecord. `process` is the reference; `raw_batch` (native.py) does the same for
many records at once in compiled code, when it is installed."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workers import topics
from workers.config import FleetSettings
from workers.contracts.errors import InvalidEvent
from workers.contracts.identity import correlation_id
from workers.contracts.validation import check_raw_event
from workers.ingest import native
from workers.ingest.settings import IngestSettings
from workers.processing import Edges, Output, ProcessorBase, Record, StateStore, dead_letter
from workers.processing.raw_batch import Encoded, RawBatch, RawMessage, StoresFor

BUFFER_SCHEMA = native.BUFFER_SCHEMA


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
        self.admit(event_id)

    def admit(self, event_id: str) -> bool:
        """Remember event_id; False when it is remembered already (a duplicate)."""
        if event_id in self._ids:
            return False
        if self.size:
            self._order.append(event_id)
            self._ids.add(event_id)
            if len(self._order) > self.size:
                self._ids.discard(self._order.popleft())
        return True


def check_trust(record: Record, event: Mapping[str, Any], settings: IngestSettings) -> None:
    """What the schema cannot say about where a record came from: the key must be the symbol
    (else the symbol splits across partitions), and the event time must not run ahead of the
    record's own timestamp (the producer's or broker's clock, stored with the record, so a
    replay decides the same) by more than `max_future_ms`."""
    if record.key != event["symbol"]:
        raise InvalidEvent(
            "KEY_MISMATCH",
            f"record key {record.key!r} is not the event's symbol {event['symbol']!r}: "
            "produce keyed by symbol (regime-fleet produce does)",
        )
    stamped = record.timestamp_ms
    if settings.max_future_ms and stamped > 0 and event["event_ts_ms"] > stamped + settings.max_future_ms:
        raise InvalidEvent(
            "EVENT_IN_FUTURE",
            f"event_ts_ms {event['event_ts_ms']} is more than {settings.max_future_ms} ms after "
            f"the record timestamp {stamped}",
        )


class IngestProcessor(ProcessorBase):
    name = "ingest"

    def __init__(self, settings: IngestSettings, edges: Edges | None = None) -> None:
        self.settings = settings
        self.edges = edges or Edges()
        self.windows: dict[int, DedupeWindow] = {}
        # The compiled path writes spliced bytes, so only where the edges splice (live runs).
        wrapper, self.path = native.load(settings, self.edges.splice)
        self._native = wrapper
        self.raw_batch: RawBatch | None = self._raw_batch if wrapper is not None else None

    def assigned(self, partitions: Sequence[int]) -> None:
        """Reset each partition's window to the event_ids already accepted into the buffer."""
        for partition in partitions:
            tail = self.edges.reads.tail(topics.BUFFER, partition, self.settings.dedupe_window)
            ids = (v["event"]["event_id"] for v in tail if isinstance(v.get("event"), Mapping))
            self.windows[partition] = DedupeWindow(self.settings.dedupe_window, ids)

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        event = record.value
        try:
            check_raw_event(
                event,
                min_ts_ms=self.settings.min_event_ts_ms,
                max_ts_ms=self.settings.max_event_ts_ms,
            )
            check_trust(record, event, self.settings)
        except InvalidEvent as exc:
            return [dead_letter(record, topics.RAW_DLQ, exc.code, exc.message)]
        window = self.windows.setdefault(record.partition, DedupeWindow(self.settings.dedupe_window))
        if event["event_id"] in window:
            self.edges.metrics.count("duplicates_dropped")
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
        splice = self.edges.splice
        spliced = splice(BUFFER_SCHEMA, record.raw, rest) if splice and record.raw else None
        headers = {"event_type": event["kind"], "schema": BUFFER_SCHEMA, "correlation_id": corr}
        # Pinned to the input partition: a symbol keeps one partition through the whole fleet.
        buffered = spliced or {"event": dict(event), **rest}
        return [Output(topics.BUFFER, event["symbol"], buffered, headers, partition=record.partition)]

    def _raw_batch(
        self,
        messages: Sequence[RawMessage],
        start: int,
        topic: str,
        now_ms: int,
        max_bytes: int,
        stores: StoresFor,
    ) -> list[Sequence[Encoded | Output]]:
        """`process` for the run of records the compiled path accepts: it decoded, checked and
        wrapped them, ready to produce; the dedupe window stays here, in the same order (ingest
        keeps no stores)."""
        assert self._native is not None
        outputs: list[Sequence[Encoded | Output]] = []
        windows, size = self.windows, self.settings.dedupe_window
        for event_id, output in self._native.wrap(messages, start, topic, now_ms, max_bytes):
            partition = output[4]
            window = windows.get(partition)
            if window is None:
                window = windows[partition] = DedupeWindow(size)
            if window.admit(event_id):
                outputs.append((output,))
            else:
                self.edges.metrics.count("duplicates_dropped")
                outputs.append(())
        return outputs


def create(settings: FleetSettings, edges: Edges) -> IngestProcessor:
    processor = IngestProcessor(IngestSettings.of(settings), edges)
    if edges.splice is not None:  # a live worker says which path it runs; in-memory runs stay quiet
        native.announce(processor.path, settings.group(processor.name))
    return processor
