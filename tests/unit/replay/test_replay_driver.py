"""The replays' driver checkpoints stores per batch, as a live worker does: the fleet's outputs
must be the ones the per-record test driver gives, whatever the batch size, and a failing
record's writes must be rolled back alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from harness.demo.data import synthetic_intraday
from workers.config import FleetSettings
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import signal
from workers.meta_model import model_record, train_booster
from workers.processing import Output, ProcessorBase, Record, StateStore
from workers.processing.driver import Driver
from workers.replay.driver import ReplayDriver
from workers.state import JsonCodec
from workers.topology import load_topology

SETTINGS = FleetSettings(partitions=2)


def _model() -> dict[str, Any]:
    names = EnricherProcessor(SETTINGS).feature_names
    rows = np.random.default_rng(3).normal(size=(200, len(names)))
    booster = train_booster(rows, (rows[:, 0] > 0).astype(int), names, rounds=5, max_depth=2)
    return model_record(booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names)


def _run(driver: Driver) -> dict[str, list[tuple[int, int, Any]]]:
    model = _model()
    for p in (0, 1):
        driver.feed("models", "meta", model, partition=p)
    n = 0
    for e in synthetic_intraday(4, 300, snapshot_every=60):
        p = int(e["symbol"][-1]) % 2
        driver.feed("market.raw", e["symbol"], e, partition=p)
        if e["kind"] == "BAR":
            n += 1
            sig = signal(e["symbol"], e["event_ts_ms"] + 1, seq=n, direction=1 - n % 3, ma_spread=n / 50)
            driver.feed("signals.raw", e["symbol"], sig, partition=p)
    if isinstance(driver, ReplayDriver):
        driver.flush()
    return {
        topic: sorted((p, o, logged.value) for p, records in parts.items() for o, logged in records.items())
        for topic, parts in driver.logs.items()
    }


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_the_fleet_publishes_the_same_with_stores_checkpointed_per_batch(batch: int) -> None:
    topology = load_topology(2)
    expected = _run(Driver.for_fleet(SETTINGS, topology))
    assert len(expected["signals.enriched"]) > 5 and len(expected["regime.events"]) > 5
    assert _run(ReplayDriver.for_replay(SETTINGS, topology, batch=batch)) == expected


class _Counter(ProcessorBase):
    """Counts records per key; raises on a value of "boom" after writing."""

    name = "scheduler"
    stores = {"cuts": JsonCodec()}

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        view = stores["cuts"]
        count = (view.get("n") or {"n": 0})["n"] + 1
        view.put("n", {"n": count})
        if record.value.get("event") == "boom":
            raise ValueError("boom")
        return []


def test_a_failing_record_is_dead_lettered_and_only_its_writes_are_rolled_back() -> None:
    driver = ReplayDriver(load_topology(1), batch=100)
    driver.processors["scheduler"] = _Counter()
    for i, value in enumerate(["a", "b", "boom", "c"]):
        driver.feed("market.buffer", "S", {"event": value}, partition=0, offset=i)
    (dead,) = driver.received("fleet.dlq")
    assert dead.headers["error_code"] == "PROCESSOR_ERROR" and dead.headers["source_offset"] == "2"
    driver.flush()
    assert driver.store("scheduler", "cuts", 0).get("n") == {"n": 3}  # a, b, c: not boom
