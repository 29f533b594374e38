"""The scheduler with its compiled projection of market.buffer (workers/scheduler/native.py)
against the full decode: the runtime's Decoder gives the core either value, and the runs it
plans (ids, cuts, snapshots, both input hash versions) and the state it keeps are the same."""

from __future__ import annotations

import pytest

from harness.demo.data import synthetic_intraday
from tests.unit.native_build import native_module
from tests.unit.scheduler.buffered import Msg
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.contracts.input_hash import V1, V2
from workers.processing import Edges, Record, StoreView
from workers.runtime.context import RuntimeContext
from workers.runtime.decoding import Decoder
from workers.scheduler import native
from workers.scheduler.processor import SchedulerProcessor, create
from workers.state.memory import MemoryStore
from workers.topology import load_topology

native_module()

SERDE = Serde()
SETTINGS = FleetSettings(scheduler={"mode": "boundary", "interval_ms": 60_000})


def _messages() -> list[Msg]:
    """Buffered records of every kind, three symbols, snapshots of three bars every 10 events."""
    out = []
    for seq, e in enumerate(synthetic_intraday(3, 400, snapshot_every=10, window=3)):
        value = {
            "event": e,
            "source_topic": "market.raw",
            "source_partition": seq % 3,
            "source_offset": 10_000_000_000 + seq,
            "ingest_ts_ms": 1_700_000_000_000 + seq,
            "correlation_id": f"corr-é-{seq}",
        }
        out.append(Msg(SERDE.encode("RawInputBufferRecord", value), seq, e["symbol"].encode()))
    return out


def _decoder(processor: object) -> Decoder:
    ctx = RuntimeContext.build("scheduler", SETTINGS, load_topology(SETTINGS.partitions))
    return Decoder(ctx, processor)


def _plan(
    proc: SchedulerProcessor, decoder: Decoder, msgs: list[Msg]
) -> tuple[list[object], dict[str, object]]:
    store, outputs = MemoryStore(), []
    for msg in msgs:
        record = decoder.decode(msg)  # type: ignore[arg-type]
        assert isinstance(record, Record)
        view = StoreView(store)
        outputs += proc.process(record, {"cuts": view}, 42)
        store.commit(view)
    return outputs, dict(store.data)


def _live() -> SchedulerProcessor:
    proc = create(SETTINGS, Edges(splice=SERDE.encode_embedding))
    assert proc.projections, "the live scheduler reads market.buffer with the projection"
    return proc


@pytest.mark.parametrize("version", [V1, V2])
def test_runs_and_state_are_those_of_the_full_decode(version: int) -> None:
    msgs = _messages()
    full = SchedulerProcessor(SETTINGS)
    projected = _live()
    for proc in (full, projected):
        proc.cut_hash_version = lambda symbol: version
    expected = _plan(full, _decoder(full), msgs)
    got = _plan(projected, _decoder(projected), msgs)
    assert len(expected[0]) > 15
    assert got == expected


def test_a_record_the_projection_cannot_vouch_for_is_decoded_in_full() -> None:
    decoder = _decoder(_live())
    msg = _messages()[0]
    other = SERDE.encode("RawMarketEvent", SERDE.decode("RawInputBufferRecord", msg.raw)["event"])
    assert isinstance(decoder.decode(Msg(other, 0, b"x")), DecodeError)  # the full decoder's error
    damaged = Msg(msg.raw[:-3], 0, b"x")
    error = decoder.decode(damaged)  # type: ignore[arg-type]
    assert isinstance(error, DecodeError) and error.code == _decoder(None).decode(damaged).code  # type: ignore[union-attr,arg-type]


def test_the_switch_and_the_sentence() -> None:
    assert native.load(False) == (None, "the full decode: scheduler.compiled is false")
    project, path = native.load(True)
    assert project is not None and path == "the compiled projection (regime_fleet_native)"
    memory = create(SETTINGS, Edges())  # in memory (tests, replays): values arrive decoded
    assert memory.projections == {}
