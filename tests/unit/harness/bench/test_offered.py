"""The steady-state bench's load: chunks continue the event time with unique event ids, and
the runs it expects are the boundaries each symbol's records cross."""

from __future__ import annotations

from harness.bench.steady import INTERVAL_MS, Offered
from workers.contracts import Serde


def test_chunks_continue_event_time_with_unique_ids() -> None:
    Offered.CHUNK = 2_000
    try:
        offered = Offered()
        records = offered.take(5_000)  # three chunks
    finally:
        Offered.CHUNK = 200_000
    serde = Serde()
    events = [serde.decode("RawMarketEvent", value) for _, _, value in records]
    assert len({e["event_id"] for e in events}) == len(events)
    by_symbol: dict[str, list[int]] = {}
    for e in events:
        by_symbol.setdefault(e["symbol"], []).append(e["event_ts_ms"])
    assert all(ts == sorted(ts) for ts in by_symbol.values())  # a BAR shares its trade's time


def test_expected_runs_are_the_boundaries_crossed() -> None:
    offered = Offered()
    offered.records = [("A", t * 1_000, b"") for t in range(0, 181)] + [("B", 30_000, b"")]
    offered.at = len(offered.records)
    # A spans buckets 0, 1, 2 and 3 (t = 180 s): three boundaries crossed; B stays in one.
    assert offered.runs_so_far() == 3
    assert INTERVAL_MS == 60_000
