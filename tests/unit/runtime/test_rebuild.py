"""The pure parts of rebuilding a store from its inputs: replaying a worker's core over one
partition's records in memory reproduces the store the fleet built; reconciling a rebuild with
a changelog says what to rewrite and what disagrees. No broker."""

from __future__ import annotations

from typing import Any

import pytest

from harness.demo.data import index_events
from workers.config import FleetSettings
from workers.processing import Edges, Record
from workers.processing.driver import Driver, Logged
from workers.processing.registry import create_processor
from workers.runtime.rebuild import reconcile, replay, unrebuildable
from workers.state.changelog import Latest
from workers.topology import load_topology


def _fleet() -> tuple[FleetSettings, Driver]:
    settings = FleetSettings(
        partitions=2,
        scheduler={"interval_ms": 86_400_000},
        engine={"mode": "hysteresis", "progress_required": 2},
    )
    driver = Driver.for_fleet(settings, load_topology(2))
    events = [e for s in ("SPX", "NDX") for e in index_events(s, days=40, window=20)]
    for i, e in enumerate(events):
        driver.feed("market.raw", e["symbol"], e, partition=0 if e["symbol"] == "SPX" else 1, offset=i)
    return settings, driver


def _records(logged: list[Logged], partition: int) -> list[Record]:
    return [
        Record(r.topic, r.partition, r.offset, str(r.key), r.value, {}, b"", r.timestamp_ms)  # type: ignore[arg-type]
        for r in logged
        if r.partition == partition
    ]


@pytest.mark.parametrize(
    ("worker", "store", "topic"),
    [
        ("scheduler", "cuts", "market.buffer"),
        ("engine", "hysteresis", "engine.runs"),
        ("publisher", "chain", "engine.results"),
    ],
)
def test_replaying_a_partitions_inputs_rebuilds_the_store_the_fleet_built(worker, store, topic):
    settings, driver = _fleet()
    for partition in (0, 1):
        core = create_processor(worker, settings, Edges(reads=driver))  # a fresh core, as a restart has
        progress: list[int] = []
        rebuilt = replay(core, partition, _records(list(driver.received(topic)), partition), progress.append)
        built = dict(driver.store(worker, store, partition).items())
        assert built, f"the fleet built nothing for {worker}[{partition}]"
        assert rebuilt[store] == built
        assert progress[-1] == sum(1 for r in driver.received(topic) if r.partition == partition)


def test_a_replay_stopped_short_rebuilds_an_older_state_not_the_newest():
    settings, driver = _fleet()
    records = _records(list(driver.received("engine.results")), 0)
    core = create_processor("publisher", settings, Edges(reads=driver))
    short = replay(core, 0, records[:-3])["chain"]
    assert short != dict(driver.store("publisher", "chain", 0).items())


def test_a_record_the_core_raises_on_leaves_no_change():
    settings, driver = _fleet()
    records = _records(list(driver.received("engine.results")), 0)
    poison = Record("engine.results", 0, 10_000, "SPX", {"event_type": "nonsense"}, {}, b"", 0)
    core = create_processor("publisher", settings, Edges(reads=driver))
    assert replay(core, 0, [*records, poison])["chain"] == dict(driver.store("publisher", "chain", 0).items())


def _latest(values: dict[str, Any], corrupt: dict[str, int] | None = None) -> Latest:
    return Latest(values=values, corrupt=corrupt or {}, high=10)


def test_a_corrupt_key_is_rewritten_with_the_rebuilt_value_and_nothing_else():
    rebuilt = {"SPX": {"n": 2}, "NDX": {"n": 5}}
    verdict = reconcile(rebuilt, _latest({"NDX": {"n": 5}}, {"SPX": 7}))
    assert verdict.heal == {"SPX": {"n": 2}}
    assert verdict.mismatched == []


def test_a_recreated_changelog_is_rewritten_whole():
    rebuilt = {"SPX": {"n": 2}, "NDX": {"n": 5}}
    verdict = reconcile(rebuilt, _latest({}))
    assert verdict.heal == rebuilt
    assert verdict.mismatched == []


def test_a_corrupt_key_the_rebuild_does_not_hold_gets_a_tombstone():
    verdict = reconcile({"NDX": {"n": 5}}, _latest({"NDX": {"n": 5}}, {"SYN000": 3}))
    assert verdict.heal == {"SYN000": None}


def test_a_readable_value_that_differs_or_that_the_rebuild_lacks_is_a_mismatch():
    verdict = reconcile({"SPX": {"n": 2}}, _latest({"SPX": {"n": 3}, "NDX": {"n": 1}, "GONE": None}))
    assert verdict.mismatched == ["SPX", "NDX"]
    assert verdict.heal == {}


def test_only_single_input_cores_without_state_changing_ticks_are_rebuilt():
    settings, driver = _fleet()
    topology = load_topology(2)
    for worker in ("scheduler", "engine", "publisher"):
        core = create_processor(worker, settings, Edges(reads=driver))
        assert unrebuildable(core, topology.worker(worker).inputs) is None, worker
    timer = FleetSettings(partitions=2, scheduler={"interval_ms": 60_000, "mode": "timer"})
    reason = unrebuildable(create_processor("scheduler", timer, Edges()), topology.worker("scheduler").inputs)
    assert reason is not None and "wall-clock ticks" in reason
    enricher = topology.worker("enricher")
    assert "interleaved" in (
        unrebuildable(create_processor("enricher", settings, Edges()), enricher.inputs) or ""
    )
