"""Timer-mode scheduling on a real broker and in the in-memory Driver: the same runs.

Timer mode cuts on the wall clock, so which records a run holds depends on when the live
scheduler's polls fell; that is recorded in what it wrote, not decided by the input. What is
deterministic is everything the scheduler writes *given the ticks it saw*:

- each live punctuation (one poll, at wall time `planned_ts_ms`, covering every assigned
  partition) is recovered from engine.runs: at that time partition p had been processed up to
  the greatest `cut_end_ingest_seq` of its runs with that `planned_ts_ms` (any later record
  would have opened a cut that tick closed). A partition without runs at a tick had no open
  cut, so its position there does not change any output;
- the Driver then replays the live scheduler's input (market.buffer as the broker holds it,
  same offsets, transaction markers' gaps included) and that recorded clock: it feeds each
  partition up to those positions and sets its wall clock to each `planned_ts_ms` in turn.

The comparison is then exact, per partition and in order: run_id, key, engine_timestamp_ms,
cut bounds of every symbol (not only the one that fixed the position), cut_record_count,
input_hash, snapshot_ingest_seq, correlation_id, config_fingerprint, planned_ts_ms and the
headers. The test waits until the scheduler has opened both partitions before producing, as
the Driver assigns both at start; the engine is not started, so engine.runs holds only
PLANNED runs. Not compared: offsets of engine.runs (they include transaction markers).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import pytest

from tests.integration.fleet import Fleet
from tests.samples import trade_event
from workers.contracts import Serde
from workers.processing.driver import Driver
from workers.topics import BUFFER, RUNS
from workers.topology import load_topology

pytestmark = pytest.mark.integration

INTERVAL_MS = 2_000
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")
T0 = 1_700_000_000_000
BAR = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0, "interval_ms": 60_000}


def _wave(n: int) -> list[dict[str, Any]]:
    """Per symbol, two trades and a snapshot: the snapshot rule has something to choose."""
    events = []
    for i, symbol in enumerate(SYMBOLS):
        ts = T0 + n * 60_000 + i
        events.append(trade_event(event_id=f"{symbol}-{n}-t1", symbol=symbol, event_ts_ms=ts))
        snapshot = {"as_of_ts_ms": ts, "window": [BAR]}
        events.append(
            trade_event(
                event_id=f"{symbol}-{n}-s",
                symbol=symbol,
                event_ts_ms=ts + 1,
                kind="SNAPSHOT_INPUTS",
                trade=None,
                snapshot_inputs=snapshot,
            )
        )
        events.append(trade_event(event_id=f"{symbol}-{n}-t2", symbol=symbol, event_ts_ms=ts + 2))
    return events


def _opened(fleet: Fleet, name: str, partitions: int) -> bool:
    lines = [json.loads(line) for line in fleet.log(name).splitlines() if line.startswith("{")]
    restored = {line.get("partition") for line in lines if line.get("event") == "store_restored"}
    return restored >= set(range(partitions))


def _planned(fleet: Fleet, buffered: int, timeout: float = 60) -> list[dict[str, Any]]:
    """engine.runs once every buffered record is in a cut (a tick came after the last one)."""
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = fleet.consume(RUNS, 1, timeout=5)
        if sum(r["value"]["cut_record_count"] for r in runs) >= buffered:
            return runs
        time.sleep(INTERVAL_MS / 1000)
    raise AssertionError(f"{sum(r['value']['cut_record_count'] for r in runs)} of {buffered} records cut")


def _replayed(fleet: Fleet, buffer: list[dict[str, Any]], runs: list[dict[str, Any]]) -> Driver:
    """The live scheduler's input and recorded clock through the Driver."""
    settings = fleet.settings()
    driver = Driver.for_fleet(settings, load_topology(settings.partitions), ["scheduler"], now_ms=0)
    driver.assign("scheduler", range(settings.partitions))  # as at start, before any tick
    reached: dict[tuple[int, int], int] = {}  # (tick, partition) -> last offset processed
    for r in runs:
        at = (r["value"]["planned_ts_ms"], r["partition"])
        reached[at] = max(reached.get(at, -1), r["value"]["cut_end_ingest_seq"])
    pending = defaultdict(list)
    for b in sorted(buffer, key=lambda b: (b["partition"], b["offset"])):
        pending[b["partition"]].append(b)
    for tick in sorted({t for t, _ in reached}):
        for partition, records in pending.items():
            upto = reached.get((tick, partition), -1)
            while records and records[0]["offset"] <= upto:
                b = records.pop(0)
                driver.feed(BUFFER, b["key"], b["value"], partition=partition, offset=b["offset"])
        driver.set_wall_clock(tick)
    assert not any(pending.values()), "every buffered record is in a live cut"
    return driver


def test_timer_mode_runs_from_the_broker_match_the_driver_on_the_recorded_clock(fleet_factory) -> None:
    fleet = fleet_factory(scheduler__mode="timer", scheduler__interval_ms=str(INTERVAL_MS))
    fleet.start("ingest")
    fleet.start("scheduler")
    deadline = time.monotonic() + 60
    while not _opened(fleet, "scheduler", 2):
        assert time.monotonic() < deadline, fleet.log("scheduler")[-3000:]
        time.sleep(0.5)
    events = []
    for n in range(3):  # waves more than an interval apart: several ticks, several cuts a symbol
        wave = _wave(n)
        assert fleet.produce("market.raw", wave) == len(wave)
        events += wave
        time.sleep(1.5 * INTERVAL_MS / 1000)
    buffer = fleet.consume(BUFFER, len(events))
    assert len(buffer) == len(events)
    live = _planned(fleet, len(events))
    for name in ("scheduler", "ingest"):
        assert fleet.stop(name) == 0

    assert {r["value"]["cut_kind"] for r in live} == {"TIMER"}
    assert len({r["value"]["planned_ts_ms"] for r in live}) >= 2, "the comparison needs several ticks"
    assert max(sum(r["value"]["symbol"] == s for r in live) for s in SYMBOLS) >= 2
    driver = _replayed(fleet, buffer, live)
    serde = Serde()
    in_memory = [
        (
            r.partition,
            r.key,
            dict(r.headers),
            serde.decode("EngineRunRecord", serde.encode("EngineRunRecord", r.value)),  # as on the wire
        )
        for r in driver.received(RUNS)
    ]
    by_partition = sorted(live, key=lambda r: (r["partition"], r["offset"]))
    assert sorted(in_memory, key=lambda run: run[0]) == [  # a stable sort: each partition in order
        (r["partition"], r["key"], r["headers"], r["value"]) for r in by_partition
    ]
