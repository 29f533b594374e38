from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.config import FleetSettings
from workers.processing import Record, StoreView
from workers.scheduler.cuts import CutState, append, close, on_boundary_record
from workers.scheduler.processor import SchedulerProcessor
from workers.state.memory import MemoryStore

INTERVAL = 100


def _event(ts, kind="TRADE", as_of=None):
    e = {"event_id": f"e{ts}", "symbol": "S", "event_ts_ms": ts, "kind": kind}
    if kind == "SNAPSHOT_INPUTS":
        e["snapshot_inputs"] = {"as_of_ts_ms": as_of if as_of is not None else ts, "window": []}
    return e


def _schedule(timestamps):
    settings_ = FleetSettings(scheduler={"mode": "boundary", "interval_ms": INTERVAL})
    proc = SchedulerProcessor(settings_, "v")
    view = StoreView(MemoryStore())
    runs = []
    for seq, ts in enumerate(timestamps):
        rec = Record("market.buffer", 0, seq * 2, "S", {"event": _event(ts), "correlation_id": "c"}, {})
        runs += [o.value for o in proc.process(rec, {"cuts": view}, 0)]
    return runs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2_000), min_size=1, max_size=80))
def test_cuts_are_contiguous_non_overlapping_and_monotonic(timestamps):
    runs = _schedule(timestamps)
    offsets = [i * 2 for i in range(len(timestamps))]
    covered = []
    for run in runs:
        assert run["cut_start_ingest_seq"] <= run["cut_end_ingest_seq"]
        assert run["engine_timestamp_ms"] % INTERVAL == 0
        covered += [o for o in offsets if run["cut_start_ingest_seq"] <= o <= run["cut_end_ingest_seq"]]
    assert covered == offsets[: len(covered)], "cuts must be contiguous and never overlap"
    ts = [r["engine_timestamp_ms"] for r in runs]
    assert ts == sorted(set(ts)), "engine_timestamp_ms must strictly increase"


def test_boundary_fires_on_first_event_at_or_past_it_and_skips_empty_intervals():
    runs = _schedule([10, 50, 99, 100, 150, 420])
    assert [(r["engine_timestamp_ms"], r["cut_start_ingest_seq"], r["cut_end_ingest_seq"]) for r in runs] == [
        (100, 0, 4),
        (400, 6, 8),
    ]


def test_late_events_join_the_open_cut_and_never_refire():
    runs = _schedule([10, 120, 50, 130, 210])
    assert [r["engine_timestamp_ms"] for r in runs] == [100, 200]
    assert (runs[1]["cut_start_ingest_seq"], runs[1]["cut_end_ingest_seq"]) == (2, 6)


def test_snapshot_rule_latest_as_of_not_after_t_ties_by_seq():
    state = CutState()
    on_boundary_record(state, 0, INTERVAL)
    append(state, 1, _event(10, "SNAPSHOT_INPUTS", as_of=50), "c")
    append(state, 2, _event(11, "SNAPSHOT_INPUTS", as_of=50), "c")
    append(state, 3, _event(12, "SNAPSHOT_INPUTS", as_of=30), "c")
    append(state, 4, _event(13, "SNAPSHOT_INPUTS", as_of=150), "c")
    cut = close(state, 100)
    assert cut.snapshot_seq == 2 and cut.count == 4 and cut.start == 1 and cut.end == 4


def test_no_snapshot_gives_null():
    state = CutState()
    append(state, 7, _event(10), "c")
    assert close(state, 100).snapshot_seq is None


def test_run_ids_are_derived_not_random():
    assert _schedule([10, 150, 250]) == _schedule([10, 150, 250])


def test_timer_mode_closes_every_open_cut_once_per_tick():
    settings_ = FleetSettings(scheduler={"mode": "timer", "interval_ms": INTERVAL})
    proc = SchedulerProcessor(settings_, "v")
    view = StoreView(MemoryStore())
    for seq, (symbol, ts) in enumerate([("A", 5), ("B", 7), ("A", 9)]):
        event = {**_event(ts), "symbol": symbol}
        assert (
            proc.process(
                Record("market.buffer", 0, seq, symbol, {"event": event, "correlation_id": ""}, {}),
                {"cuts": view},
                0,
            )
            == []
        )
    runs = [o.value for o in proc.punctuate(0, {"cuts": view}, now_ms=1_234)]
    assert sorted(
        (
            r["symbol"],
            r["engine_timestamp_ms"],
            r["cut_kind"],
            r["cut_start_ingest_seq"],
            r["cut_end_ingest_seq"],
        )
        for r in runs
    ) == [("A", 1200, "TIMER", 0, 2), ("B", 1200, "TIMER", 1, 1)]
    assert proc.punctuate(0, {"cuts": view}, now_ms=1_250) == []  # same tick
    assert proc.punctuate(0, {"cuts": view}, now_ms=1_300) == []  # nothing new to cut
