"""Property: on a fleet's output (the in-memory Driver, wall clock moving), the as-of answer
for thousands of random (symbol, T, K) equals the one computed from regime.events directly,
never has an engine time after T nor a publication after K, and a history rebuilt from the
topic (an api restarted) answers the same."""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.demo.data import synthetic_intraday
from workers.api.history import RANK, AsOfMiss, VersionedTable, fold_regime_event
from workers.config import load_settings
from workers.processing.driver import Driver, Logged
from workers.topology import load_topology


def fleet_output() -> Sequence[Logged]:
    settings = load_settings(partitions=2)
    driver = Driver.for_fleet(settings, load_topology(2), now_ms=1_700_000_000_000)
    rng = random.Random(11)
    for event in synthetic_intraday(3, 300, seed=5, step_ms=30_000, snapshot_every=3, window=10):
        now = driver.now_ms + rng.choice((0, 0, 1, 5, 250))
        driver.feed("market.raw", event["symbol"], event, partition=int(event["symbol"][-1]) % 2, now_ms=now)
    return driver.received("regime.events")


def restored(records: Sequence[Logged]) -> VersionedTable:
    table = VersionedTable()
    for r in records:
        assert isinstance(r.value, dict)
        fold_regime_event(table, r.value, r.partition, r.offset, r.timestamp_ms)
    return table


def reference(records: Sequence[Logged], symbol: str, t: int, k: int | None) -> tuple[int, int] | None:
    """Straight from the topic: the deciding events of the symbol valid at t, published by k."""
    best = None
    for r in records:
        v = r.value
        assert isinstance(v, dict)
        if v["symbol"] != symbol or v["event_type"] not in RANK or v["engine_timestamp_ms"] > t:
            continue
        if k is not None and r.timestamp_ms > k:
            continue
        key = (v["engine_timestamp_ms"], RANK[v["event_type"]], r.offset)
        best = key if best is None or key > best else best
    return None if best is None else (best[2], best[0])


def test_as_of_answers_equal_the_topic_read_directly():
    records = fleet_output()
    decisions = [r for r in records if isinstance(r.value, dict) and r.value["event_type"] in RANK]
    assert len(decisions) > 50
    table, again = restored(records), restored(records)
    symbols = sorted({r.value["symbol"] for r in decisions if isinstance(r.value, dict)})
    times = [r.value["engine_timestamp_ms"] for r in decisions if isinstance(r.value, dict)]
    published = [r.timestamp_ms for r in decisions]
    rng = random.Random(7)
    answered = 0
    for _ in range(3000):
        symbol = rng.choice(symbols)
        t = rng.randint(min(times) - 1000, max(times) + 1000)
        k = rng.choice((None, rng.randint(min(published) - 1000, max(published) + 1000)))
        want = reference(records, symbol, t, k)
        try:
            got = table.as_of(symbol, t, k)
        except AsOfMiss:
            assert want is None, (symbol, t, k)
            continue
        assert (got.offset, got.valid_from_ms) == want
        assert got.valid_from_ms <= t and (k is None or got.published_ms <= k)
        assert again.as_of(symbol, t, k) == got
        answered += 1
    assert answered > 1000
