"""The scheduler's batch hook against `process`, the reference: run as the runtime runs it
(workers/runtime/raw_batches.py: the hook takes what it can, the record it leaves is decoded in
full and processed, then the hook gets the rest), it plans the same runs and keeps the same
cut state as `process` on every record, whatever the batch sizes, with damaged records, records
of another schema, a correlation id too large for a run, and both input hash versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.demo.data import synthetic_intraday
from tests.unit.native_build import native_module
from tests.unit.scheduler.buffered import Msg
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.contracts.input_hash import V1, V2
from workers.processing import Edges, Output, Record, StoreView
from workers.runtime.context import RuntimeContext
from workers.runtime.decoding import Decoder
from workers.runtime.raw_batches import RawBatches
from workers.scheduler.processor import SchedulerProcessor, create
from workers.state.memory import MemoryStore
from workers.topology import load_topology

native_module()

SERDE = Serde()
SETTINGS = FleetSettings(scheduler={"mode": "boundary", "interval_ms": 15_000})
NOW_MS = 42
MAX_BYTES = 64_000  # the smallest topic limit the hook is told: a 9,000-character id may not fit


def _messages() -> list[Msg]:
    """Four symbols on two partitions, every kind of event, and records the hook must leave:
    damaged bytes, another schema, and a correlation id that would make a run too large."""
    out: list[Msg] = []
    offsets = [0, 0]
    for seq, e in enumerate(synthetic_intraday(4, 300, snapshot_every=10, window=3)):
        part = sum(e["symbol"].encode()) % 2
        value = {
            "event": e,
            "source_topic": "market.raw",
            "source_partition": part,
            "source_offset": seq,
            "ingest_ts_ms": 1_700_000_000_000 + seq,
            "correlation_id": "c" * 9_000 if 400 <= seq < 700 and part == 0 else f"corr-é-{seq}",
        }
        raw = SERDE.encode("RawInputBufferRecord", value)
        if seq % 97 == 13:
            raw = raw[:-3]  # damaged: the full decoder dead-letters it
        elif seq % 101 == 7:
            raw = SERDE.encode("RawMarketEvent", e)  # another schema
        out.append(Msg(raw, offsets[part], e["symbol"].encode(), part))
        offsets[part] += 1
    return out


@dataclass
class Fleet:
    """One scheduler's committed stores per partition and what it planned."""

    proc: SchedulerProcessor
    stores: dict[int, MemoryStore] = field(default_factory=dict)
    views: dict[int, StoreView] = field(default_factory=dict)
    planned: list[Output] = field(default_factory=list)
    large: int = 0  # runs of a cut with the huge correlation id, planned by `process`

    def __post_init__(self) -> None:
        ctx = RuntimeContext.build("scheduler", SETTINGS, load_topology(SETTINGS.partitions))
        self.decoder = Decoder(ctx, self.proc)

    def stores_for(self, partition: int) -> Mapping[str, StoreView]:
        if partition not in self.views:
            store = self.stores.setdefault(partition, MemoryStore())
            self.views[partition] = StoreView(store)
        return {"cuts": self.views[partition]}

    def one(self, msg: Msg) -> None:
        """The per-record way: decode (a decode error is dead-lettered: no state), process."""
        record = self.decoder.decode(msg)  # type: ignore[arg-type]
        if isinstance(record, Record):
            views = self.stores_for(msg.part)
            for view in views.values():
                view.begin_record()
            outputs = self.proc.process(record, views, NOW_MS)
            self.large += sum(map(_large, outputs))
            self.planned += outputs

    def checkpoint(self) -> dict[int, dict[str, Any]]:
        for partition, view in self.views.items():
            self.stores[partition].commit(view)
        self.views = {}
        return {p: dict(s.data) for p, s in self.stores.items()}


def _large(out: Output) -> bool:
    return len(out.value["correlation_id"]) > 8_000


def _reference(version: int) -> tuple[list[Output], dict[int, dict[str, Any]]]:
    fleet = Fleet(SchedulerProcessor(SETTINGS))
    fleet.proc.cut_hash_version = lambda symbol: version
    for msg in _messages():
        fleet.one(msg)
    assert fleet.large > 0
    return fleet.planned, fleet.checkpoint()


def _hooked(version: int, batch: int) -> tuple[list[Output], dict[int, dict[str, Any]], int]:
    fleet = Fleet(create(SETTINGS, Edges(splice=SERDE.encode_embedding)))
    fleet.proc.cut_hash_version = lambda symbol: version
    hook = fleet.proc.raw_batch
    assert hook is not None, "the live scheduler offers the batch hook"
    msgs, hooked = _messages(), 0
    for first in range(0, len(msgs), batch):
        chunk, i = msgs[first : first + batch], 0
        while i < len(chunk):
            taken = hook(chunk, i, "market.buffer", NOW_MS, MAX_BYTES, fleet.stores_for)  # type: ignore[arg-type]
            outputs = [out for outs in taken for out in outs if isinstance(out, Output)]
            assert not any(map(_large, outputs)), "a run that might not fit is left to process"
            fleet.planned += outputs
            i, hooked = i + len(taken), hooked + len(taken)
            if i < len(chunk):
                fleet.one(chunk[i])
                i += 1
        fleet.checkpoint()
    assert fleet.large > 0
    return fleet.planned, fleet.checkpoint(), hooked


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("batch", [1, 7, 500])
def test_the_hook_plans_what_process_plans(version: int, batch: int) -> None:
    expected_runs, expected_state = _reference(version)
    runs, state, hooked = _hooked(version, batch)
    assert len(expected_runs) > 30 and hooked > 1_000
    assert runs == expected_runs
    assert state == expected_state


def test_a_hook_that_raises_leaves_no_change_and_the_records_go_one_by_one() -> None:
    ctx = RuntimeContext.build("scheduler", SETTINGS, load_topology(SETTINGS.partitions))
    view = StoreView(MemoryStore())
    view.put("EURUSD", {"kept": True})

    def hook(messages, start, topic, now_ms, max_bytes, stores):  # type: ignore[no-untyped-def]
        stores(0)["cuts"].put("EURUSD", {"kept": False})
        stores(0)["cuts"].put("GBPUSD", {"new": True})
        raise RuntimeError("a bug in the batch path")

    class Limits:
        limits: dict[str, int] = {}

    batches = RawBatches(ctx, hook, Limits(), lambda partition: {"cuts": view})  # type: ignore[arg-type]
    handled: list[Msg] = []
    msgs = _messages()[:3]
    assert batches.handle(msgs, NOW_MS, lambda msg: handled.append(msg) is None)  # type: ignore[arg-type]
    assert handled == msgs and batches.failed
    assert view.pending == {"EURUSD": {"kept": True}}
