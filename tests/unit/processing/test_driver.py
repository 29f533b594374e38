"""The in-memory driver: topology routing, offsets, stores, dead letters; no broker."""

from __future__ import annotations

from workers.config import FleetSettings
from workers.demo.data import index_events
from workers.processing import Output, ProcessorBase
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
