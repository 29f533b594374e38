"""The pure scheduler core: plans EngineRunRecords from buffered records, boundary or timer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from workers.config import FleetSettings
from workers.contracts.identity import run_id
from workers.contracts.input_hash import CURRENT, V1
from workers.engine.settings import EngineSettings
from workers.processing import Edges, JsonCodec, Output, ProcessorBase, Record, StateStore
from workers.processing.projection import Projection
from workers.processing.raw_batch import Encoded, RawBatch, RawMessage, StoresFor
from workers.regime import ENGINE_VERSION
from workers.scheduler import native
from workers.scheduler.cuts import Cut, CutState, append, close, floor_to, on_boundary_record
from workers.scheduler.settings import SchedulerSettings
from workers.topics import BUFFER, RUNS

STORE = "cuts"
# A run record's bytes beyond its symbol and correlation id (ids, hashes, versions, headers),
# with room to spare: the batch hook leaves a record whose run might not fit to `process`.
_RUN_BYTES = 4096


class SchedulerProcessor(ProcessorBase):
    name = "scheduler"

    def __init__(
        self,
        settings: FleetSettings,
        engine_version: str = ENGINE_VERSION,
        *,
        projection: Projection | None = None,
    ) -> None:
        self.mode = SchedulerSettings.of(settings).mode
        self.interval = SchedulerSettings.of(settings).interval_ms
        self.engine_mode = EngineSettings.of(settings).mode.upper()
        self.engine_version = engine_version
        self.config_fingerprint = settings.config_fingerprint()
        self.stores = {STORE: JsonCodec()}
        # The input hash version of each cut a symbol opens: the current one; a replay of data
        # the fleet hashed with an older version sets what the recorded runs say.
        self.cut_hash_version: Callable[[str], int] = lambda symbol: CURRENT
        # Timer mode: the runtime calls punctuate once per interval and partition.
        self.punctuate_interval_ms = self.interval if self.mode == "timer" else 0
        # What the runtime may decode market.buffer with instead of the full decode (live only),
        # and the batch hook that takes runs of its records as bytes through it.
        self.projections: dict[str, Projection] = {BUFFER: projection} if projection else {}
        self.raw_batch: RawBatch | None = self._raw_batch if projection else None

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        view = stores[STORE]
        event = record.value["event"]
        symbol = event["symbol"]
        state = CutState.load(view.get(symbol))
        outputs = []
        if self.mode == "boundary":
            fire = on_boundary_record(state, event["event_ts_ms"], self.interval)
            if fire is not None:
                outputs.append(self._plan(symbol, close(state, fire), "BOUNDARY", record.partition, now_ms))
        # asked only when this record opens a cut (a replay's answer is per cut, in order)
        version = self.cut_hash_version(symbol) if state.cut_start is None else state.input_hash_version
        append(
            state,
            record.offset,
            native.full_event(record) if version == V1 else event,  # v1 hashes every field
            record.value.get("correlation_id", ""),
            hash_version=version,
            buffered=record.value,
            raw=record.raw,
        )
        view.put(symbol, state.dump())
        return outputs

    def _raw_batch(
        self,
        messages: Sequence[RawMessage],
        start: int,
        topic: str,
        now_ms: int,
        max_bytes: int,
        stores: StoresFor,
    ) -> list[Sequence[Encoded | Output]]:
        """`process` for a run of market.buffer records, read through the projection, with each
        symbol's cut state loaded once and stored once per call instead of once per record. It
        stops at a record the projection cannot vouch for (the runtime decodes that one in full)
        and at one whose run could outgrow `max_bytes` (a huge correlation id: `process` then
        dead-letters it)."""
        if topic != BUFFER:
            return []
        project = self.projections[BUFFER]
        states: dict[tuple[int, str], CutState] = {}
        views: dict[int, StateStore] = {}
        taken: list[Sequence[Encoded | Output]] = []
        for i in range(start, len(messages)):
            msg = messages[i]
            raw = msg.value() or b""
            value = project(raw) if raw and msg.error() is None else None
            if value is None:
                break
            partition, offset = msg.partition() or 0, msg.offset() or 0
            event = value["event"]
            symbol = event["symbol"]
            state = states.get((partition, symbol))
            if state is None:
                view = views.get(partition) or views.setdefault(partition, stores(partition)[STORE])
                state = states[(partition, symbol)] = CutState.load(view.get(symbol))
            if (len(state.correlation_id) + len(symbol)) * 8 + _RUN_BYTES > max_bytes:
                break
            outputs: tuple[Output, ...] = ()
            if self.mode == "boundary":
                fire = on_boundary_record(state, event["event_ts_ms"], self.interval)
                if fire is not None:
                    outputs = (self._plan(symbol, close(state, fire), "BOUNDARY", partition, now_ms),)
            version = self.cut_hash_version(symbol) if state.cut_start is None else state.input_hash_version
            append(
                state,
                offset,
                native.decoded_event(raw) if version == V1 else event,  # v1 hashes every field
                value.get("correlation_id", ""),
                hash_version=version,
                buffered=value,
                raw=raw,
            )
            taken.append(outputs)
        for (partition, symbol), state in states.items():
            views[partition].put(symbol, state.dump())
        return taken

    def punctuate(self, partition: int, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        """Timer mode: at each wall-clock tick, close every symbol's non-empty cut. A tick that
        was already taken (its runs are in the store) plans nothing again."""
        if self.mode != "timer" or STORE not in stores:
            return []
        tick = floor_to(now_ms, self.interval)
        view = stores[STORE]
        outputs = []
        for symbol in view.keys():
            state = CutState.load(view.get(symbol))
            if state.cut_start is None or (state.last_engine_ts is not None and tick <= state.last_engine_ts):
                continue
            outputs.append(self._plan(symbol, close(state, tick), "TIMER", partition, now_ms))
            view.put(symbol, state.dump())
        return outputs

    def _plan(self, symbol: str, cut: Cut, kind: str, partition: int, now_ms: int) -> Output:
        rid = run_id(
            symbol=symbol,
            engine_timestamp_ms=cut.engine_timestamp_ms,
            cut_start_ingest_seq=cut.start,
            cut_end_ingest_seq=cut.end,
            cut_kind=kind,
            engine_mode=self.engine_mode,
            engine_version=self.engine_version,
            config_fingerprint=self.config_fingerprint,
        )
        run: dict[str, Any] = {
            "run_id": rid,
            "symbol": symbol,
            "engine_timestamp_ms": cut.engine_timestamp_ms,
            "planned_ts_ms": now_ms,
            "cut_start_ingest_seq": cut.start,
            "cut_end_ingest_seq": cut.end,
            "cut_kind": kind,
            "snapshot_ingest_seq": cut.snapshot_seq,
            "engine_mode": self.engine_mode,
            "engine_version": self.engine_version,
            "config_fingerprint": self.config_fingerprint,
            "status": "PLANNED",
            "attempt": 0,
            "error": None,
            "input_hash": cut.input_hash,
            "cut_record_count": cut.count,
            "correlation_id": cut.correlation_id,
            "input_hash_version": cut.input_hash_version,
        }
        headers = {
            "event_type": "EngineRunPlanned",
            "schema": "EngineRunRecord",
            "run_id": rid,
            "correlation_id": cut.correlation_id,
        }
        # Keyed by run_id so compaction keeps every run; pinned to the symbol's partition.
        return Output(RUNS, rid, run, headers, partition=partition)


def create(settings: FleetSettings, edges: Edges) -> SchedulerProcessor:
    if edges.splice is None:  # in memory (tests, replays): values arrive decoded
        return SchedulerProcessor(settings)
    project, path = native.load(SchedulerSettings.of(settings).compiled)
    processor = SchedulerProcessor(settings, projection=project)
    structlog.get_logger().info(  # a live worker says which decode it runs
        "scheduler_decode", worker=processor.name, group_id=settings.group(processor.name), path=path
    )
    return processor
