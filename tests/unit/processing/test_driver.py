"""The in-memory driver: topology routing, offsets, stores, dead letters, and its clock (wall
time that moves only when told, punctuation once per interval bucket); no broker."""

from __future__ import annotations

import numpy as np
import pytest

from harness.demo.data import index_events
from tests.samples import CountingMetrics, trade_event
from workers.config import FleetSettings
from workers.enricher.processor import EnricherProcessor
from workers.meta_model import model_record, train_booster
from workers.processing import Edges, Output, ProcessorBase
from workers.processing.driver import Driver
from workers.topology import load_topology


def _settings(**engine):
    return FleetSettings(partitions=2, scheduler={"interval_ms": 86_400_000}, engine=engine)


def _raw(events, driver):
    for i, e in enumerate(events):
        driver.feed("market.raw", e["symbol"], e, partition=0 if e["symbol"] == "SPX" else 1, offset=i)


def test_a_raw_feed_runs_the_whole_fleet_by_topology():
    settings = _settings(mode="hysteresis", progress_required=2)
    driver = Driver.for_fleet(settings, load_topology(2))
    events = [e for s in ("SPX", "NDX") for e in index_events(s, days=25, window=20)]
    _raw(events, driver)
    buffered = driver.received("market.buffer")
    assert len(buffered) == len(events)
    for p in (0, 1):  # offsets per partition, from 0, in order
        offsets = [r.offset for r in buffered if r.partition == p]
        assert offsets == list(range(len(offsets)))
    published = driver.received("regime.events")
    runs = {r.value["run_id"] for r in driver.received("engine.runs")}
    assert len(published) == 3 * len(runs) > 0
    assert {r.value["symbol"] for r in published} == {"SPX", "NDX"}
    assert driver.store("engine", "hysteresis", 0).get("SPX")["symbol"] == "SPX"
    last_ndx = [r for r in published if r.value["symbol"] == "NDX"][-1]
    assert (
        driver.store("publisher", "chain", 1).get("NDX")["event_hash"]
        == last_ndx.value["provenance"]["event_hash"]
    )


def test_replaying_the_buffer_reproduces_the_raw_run_exactly():
    settings = _settings()
    first = Driver.for_fleet(settings, load_topology(2))
    _raw([e for e in index_events("SPX", days=30, window=20)], first)
    again = Driver.for_fleet(settings, load_topology(2), load_topology(2).downstream("market.buffer"))
    for r in first.received("market.buffer"):
        again.feed("market.buffer", r.key, r.value, partition=r.partition, offset=r.offset)
    assert [r.value for r in again.received("regime.events")] == [
        r.value for r in first.received("regime.events")
    ]


class _Exploding(ProcessorBase):
    name = "engine"

    def process(self, record, stores, now_ms):
        if record.offset == 1:
            raise ValueError("boom")
        return [Output("engine.results", record.key, {"n": record.offset}, partition=record.partition)]


def test_a_raising_processor_dead_letters_the_record_and_goes_on():
    driver = Driver(load_topology(1), {"engine": _Exploding()})
    for offset in range(3):
        driver.feed("engine.runs", "S", {"status": "PLANNED"}, partition=0, offset=offset)
    assert [r.value for r in driver.received("engine.results")] == [{"n": 0}, {"n": 2}]
    [dead] = driver.received("fleet.dlq")
    assert dead.headers["error_code"] == "PROCESSOR_ERROR" and "boom" in str(dead.headers["error_message"])


# -- the clock: wall time, punctuation ----------------------------------------------------


class _Ticking(ProcessorBase):
    """Records every call with the wall time it saw; each punctuation produces one output."""

    name = "engine"
    punctuate_interval_ms = 100

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []  # (hook, partition, now_ms)

    def process(self, record, stores, now_ms):
        self.calls.append(("process", record.partition, now_ms))
        return []

    def punctuate(self, partition, stores, now_ms):
        self.calls.append(("punctuate", partition, now_ms))
        return [Output("engine.results", "S", {"tick": now_ms}, partition=partition)]


def _ticking(now_ms=1_000):
    core = _Ticking()
    return core, Driver(load_topology(2), {"engine": core}, now_ms=now_ms)


def test_punctuation_runs_once_per_interval_bucket_for_each_assigned_partition():
    core, driver = _ticking()
    driver.assign("engine", [1, 0])
    assert core.calls == [("punctuate", 0, 1_000), ("punctuate", 1, 1_000)]
    driver.advance_wall_clock(50)
    driver.advance_wall_clock(49)  # 1099: still bucket 10
    driver.feed("engine.runs", "S", {}, partition=0)
    assert core.calls[2:] == [("process", 0, 1_099)], "not twice in a bucket, records or not"
    driver.advance_wall_clock(1)
    assert core.calls[3:] == [("punctuate", 0, 1_100), ("punctuate", 1, 1_100)]
    driver.advance_wall_clock(1_000)  # ten intervals at once: one punctuation, at the new time
    assert core.calls[5:] == [("punctuate", 0, 2_100), ("punctuate", 1, 2_100)]
    ticks = [(r.partition, r.value["tick"], r.timestamp_ms) for r in driver.received("engine.results")]
    assert ticks == [(p, t, t) for t in (1_000, 1_100, 2_100) for p in (0, 1)]


def test_a_partition_is_assigned_by_its_first_record_and_punctuated_after_it():
    core, driver = _ticking()
    driver.feed("engine.runs", "S", {}, partition=1)
    assert core.calls == [("process", 1, 1_000), ("punctuate", 1, 1_000)], "partition 0 is not assigned"


def test_wall_time_advances_only_when_told_and_never_goes_back():
    core, driver = _ticking(now_ms=5_000)
    driver.feed("engine.runs", "S", {}, partition=0, timestamp_ms=42)
    driver.feed("engine.runs", "S", {}, partition=0, now_ms=5_250)
    assert driver.now_ms == 5_250
    assert core.calls == [
        ("process", 0, 5_000),
        ("punctuate", 0, 5_000),
        ("process", 0, 5_250),  # the record of a poll comes before that poll's punctuation
        ("punctuate", 0, 5_250),
    ]
    driver.set_wall_clock(7_000)
    assert driver.now_ms == 7_000 and core.calls[-1] == ("punctuate", 0, 7_000)
    with pytest.raises(ValueError, match="forward only"):
        driver.set_wall_clock(6_999)
    with pytest.raises(ValueError, match="forward only"):
        driver.feed("engine.runs", "S", {}, partition=0, now_ms=1)
    assert driver.now_ms == 7_000 and len(driver.received("engine.runs")) == 2


def test_records_keep_their_own_event_time():
    seen = []

    class _Stamps(ProcessorBase):
        name = "engine"

        def process(self, record, stores, now_ms):
            seen.append((record.timestamp_ms, now_ms))
            return []

    driver = Driver(load_topology(1), {"engine": _Stamps()}, now_ms=9_000)
    driver.feed("engine.runs", "S", {}, partition=0, timestamp_ms=123)
    driver.advance_wall_clock(1_000)
    driver.feed("engine.runs", "S", {}, partition=0, timestamp_ms=124)
    assert seen == [(123, 9_000), (124, 10_000)]


T0 = 1_700_000_000_000


def _buffered(driver, symbol, ts, partition, kind="TRADE"):
    event = trade_event(event_id=f"{symbol}{ts}", symbol=symbol, event_ts_ms=ts)
    if kind == "SNAPSHOT_INPUTS":
        event = {**event, "kind": kind, "trade": None, "snapshot_inputs": {"as_of_ts_ms": ts, "window": []}}
    driver.feed("market.buffer", symbol, {"event": event, "correlation_id": f"c{ts}"}, partition=partition)


def _cuts(driver):
    return [
        (
            r.partition,
            r.value["symbol"],
            r.value["engine_timestamp_ms"],
            r.value["planned_ts_ms"],
            r.value["cut_start_ingest_seq"],
            r.value["cut_end_ingest_seq"],
            r.value["cut_kind"],
        )
        for r in driver.received("engine.runs")
    ]


def test_timer_mode_scheduler_plans_runs_when_wall_time_advances():
    settings = FleetSettings(partitions=2, scheduler={"mode": "timer", "interval_ms": 1_000})
    driver = Driver.for_fleet(settings, load_topology(2), ["scheduler"], now_ms=T0 + 100)
    driver.assign("scheduler", [0, 1])  # as at start: this bucket is punctuated, empty
    _buffered(driver, "A", 1, partition=0)
    _buffered(driver, "B", 2, partition=1)
    _buffered(driver, "A", 3, partition=0, kind="SNAPSHOT_INPUTS")
    driver.advance_wall_clock(800)  # T0 + 900: the same bucket, no tick
    assert driver.received("engine.runs") == []
    driver.advance_wall_clock(350)  # T0 + 1250: the next tick closes every open cut
    assert _cuts(driver) == [
        (0, "A", T0 + 1_000, T0 + 1_250, 0, 1, "TIMER"),
        (1, "B", T0 + 1_000, T0 + 1_250, 0, 0, "TIMER"),
    ]
    assert driver.received("engine.runs")[0].value["snapshot_ingest_seq"] == 1
    assert driver.received("engine.runs")[0].value["cut_record_count"] == 2
    driver.advance_wall_clock(1_000)  # nothing buffered since: nothing planned
    assert len(driver.received("engine.runs")) == 2
    _buffered(driver, "A", 4, partition=0)
    assert len(driver.received("engine.runs")) == 2, "a record does not tick on its own"
    driver.set_wall_clock(T0 + 5_010)
    assert _cuts(driver)[2:] == [(0, "A", T0 + 5_000, T0 + 5_010, 2, 2, "TIMER")]


def test_the_timer_mode_fleet_runs_in_memory_from_raw_events_to_regime_events():
    settings = FleetSettings(
        partitions=2, scheduler={"mode": "timer", "interval_ms": 60_000}, engine={"mode": "truth"}
    )
    driver = Driver.for_fleet(settings, load_topology(2), now_ms=T0)
    driver.assign("scheduler", [0, 1])
    events = list(index_events("SPX", days=10, window=20))
    _raw(events, driver)
    assert driver.received("engine.runs") == []
    driver.advance_wall_clock(60_000)
    [run] = [r.value for r in driver.received("engine.runs") if r.value["status"] == "PLANNED"]
    assert (run["cut_start_ingest_seq"], run["cut_end_ingest_seq"]) == (0, len(events) - 1)
    assert run["engine_timestamp_ms"] == (T0 + 60_000) // 60_000 * 60_000 and run["cut_kind"] == "TIMER"
    published = [r.value for r in driver.received("regime.events")]
    assert published and {e["run_id"] for e in published} == {run["run_id"]}


def test_the_enricher_s_model_gauges_punctuate_on_wall_time():
    settings = FleetSettings(partitions=1)
    metrics = CountingMetrics()
    driver = Driver(load_topology(1), now_ms=T0 // 5_000 * 5_000)
    core = EnricherProcessor(settings, Edges(reads=driver, metrics=metrics))
    driver.processors["enricher"] = core
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(50, len(core.feature_names)))
    booster = train_booster(rows, (rows[:, 0] > 0).astype(int), core.feature_names, rounds=2, max_depth=2)
    trained = T0 - 60_000
    record = model_record(
        booster, name="meta", version="v1", trained_ts_ms=trained, feature_names=core.feature_names
    )
    age = ("model_age_seconds", (("partition", "0"),))
    driver.assign("enricher", [0])  # punctuated at the start of a 5 s bucket: no model, no gauge
    driver.feed("models", "meta", record, partition=0)  # the same bucket: no punctuation
    driver.advance_wall_clock(4_999)
    assert age not in metrics.gauges
    driver.advance_wall_clock(1)  # the next bucket
    assert metrics.gauges[age] == (driver.now_ms - trained) / 1000 > 0
    assert metrics.gauges[("model_info", (("model_version", "v1"), ("partition", "0")))] == 1
