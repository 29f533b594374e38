"""`replay --topic engine.runs`: re-execute every recorded run from the buffered inputs it
references, chain the results as the publisher would, and compare with regime.events.

Hysteresis seeding: a replay from the beginning starts from an empty store; with --from, each
symbol's state is seeded from its last published decision before --from.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer

from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.publisher.processor import RANK
from workers.regime.hysteresis import HysteresisState
from workers.regime.persistence import to_record
from workers.replay.compare import diff, event_ref
from workers.replay.driver import ReplayDriver
from workers.replay.report import ReplayReport
from workers.runtime.reader import Stored, TopicError, read_all
from workers.topics import BUFFER, EVENTS, RUNS
from workers.topology import load_topology


def _in_window(value: dict[str, Any], symbol: str | None, start: int | None, end: int | None) -> bool:
    ts = value["engine_timestamp_ms"]
    return (
        (symbol is None or value["symbol"] == symbol)
        and (start is None or ts >= start)
        and (end is None or ts <= end)
    )


def replay_engine_runs(
    settings: FleetSettings,
    *,
    symbol: str | None = None,
    start: int | None = None,
    end: int | None = None,
    output_topic: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    runs_by_id: dict[str, Stored] = {}
    for stored in read_all(settings, "engine.runs", "EngineRunRecord"):
        runs_by_id[stored.value["run_id"]] = stored  # compacted log: the latest status wins
    if not runs_by_id:
        raise TopicError(f"{settings.topic('engine.runs')} is empty: nothing to replay")
    runs = sorted(
        (r for r in runs_by_id.values() if _in_window(r.value, symbol, start, end)),
        key=lambda r: (r.value["symbol"], r.value["engine_timestamp_ms"]),
    )
    published = [s.value for s in read_all(settings, "regime.events", "OrchestratorEvent")]
    _check_retention(settings, runs)

    report = ReplayReport(output_topic=output_topic)
    started = time.monotonic()
    topology = load_topology(settings.partitions)
    driver = ReplayDriver.for_replay(settings, topology, topology.downstream(RUNS))
    _prefetch(settings, runs, driver)
    _seed(published, symbol, start, runs, driver)
    by_key = {(v["run_id"], v["event_type"]): v for v in published}
    wanted = {k for k, v in by_key.items() if _in_window(v, symbol, start, end)}
    seen = 0
    for i, stored in enumerate(runs, start=1):
        planned = {**stored.value, "status": "PLANNED", "attempt": 0, "error": None}
        driver.feed(RUNS, stored.key, planned, partition=stored.partition, offset=stored.offset)
        events = driver.received(EVENTS)
        for event in events[seen:]:
            assert isinstance(event.value, dict)
            _compare(report, by_key, wanted, event.value, ignore_chain=start is not None)
        seen = len(events)
        report.runs += 1
        if progress is not None:
            progress(i, len(runs))
    if output_topic:
        _produce(settings, output_topic, driver)
    report.extra = len(wanted)
    report.seconds = time.monotonic() - started
    return report


def _produce(settings: FleetSettings, topic: str, driver: ReplayDriver) -> None:
    serde = Serde.of(settings)
    producer = Producer(clients.producer_config(settings, None))
    for event in driver.received(EVENTS):
        assert isinstance(event.value, dict) and isinstance(event.key, str)
        producer.produce(
            topic,
            serde.encode("OrchestratorEvent", event.value),
            event.key.encode(),
            partition=event.partition,
        )
        producer.poll(0)
    producer.flush(30)


def _compare(
    report: ReplayReport,
    by_key: dict[tuple[str, str], dict[str, Any]],
    wanted: set[tuple[str, str]],
    replayed: dict[str, Any],
    *,
    ignore_chain: bool,
) -> None:
    report.events += 1
    key = (replayed["run_id"], replayed["event_type"])
    original = by_key.get(key)
    wanted.discard(key)
    if original is None:
        report.missing += 1
        report.first_divergence = report.first_divergence or {
            **event_ref(replayed),
            "reason": "replayed event was never published",
        }
        return
    ignore = (
        frozenset({"provenance.prev_event_hash", "provenance.event_hash"}) if ignore_chain else frozenset()
    )
    fields = diff(original, replayed, ignore)
    if not fields:
        report.matched += 1
        return
    report.mismatched += 1
    report.first_divergence = report.first_divergence or {**event_ref(replayed), "fields": fields}


def _seed(
    published: list[dict[str, Any]],
    symbol: str | None,
    start: int | None,
    runs: list[Stored],
    driver: ReplayDriver,
) -> None:
    """Mid-stream replay: per symbol, the chain head and hysteresis state just before `start`,
    put into the driver's stores of the symbol's partition."""
    if start is None:
        return
    partition_of = {r.value["symbol"]: r.partition for r in runs}
    last: dict[str, dict[str, Any]] = {}
    decided: dict[str, dict[str, Any]] = {}
    for v in published:
        if v["engine_timestamp_ms"] >= start or (symbol is not None and v["symbol"] != symbol):
            continue
        last[v["symbol"]] = v
        if v["event_type"] == "HysteresisDecisionPublished" and v["hysteresis_decision"]:
            decided[v["symbol"]] = v
    for sym, v in last.items():
        if sym not in partition_of:
            continue
        driver.store("publisher", "chain", partition_of[sym]).data[sym] = {
            "position": [v["engine_timestamp_ms"], RANK[v["event_type"]]],
            "event_hash": v["provenance"]["event_hash"],
        }
    for sym, v in decided.items():
        d = v["hysteresis_decision"]
        chain_state = HysteresisState(
            sym,
            d["current_regime"],
            d["candidate_regime"],
            d["progress"],
            d["progress_required"],
            v["engine_timestamp_ms"],
            v["engine_timestamp_ms"],
            v["run_id"],
        )
        if sym in partition_of and "engine" in driver.processors and driver.processors["engine"].stores:
            driver.store("engine", "hysteresis", partition_of[sym]).data[sym] = to_record(chain_state)


def _prefetch(settings: FleetSettings, runs: list[Stored], driver: ReplayDriver) -> None:
    """One sequential read of market.buffer for every snapshot the runs reference, preloaded
    into the driver: far faster than the live engine's per-run direct reads."""
    needed = {
        (r.partition, r.value["snapshot_ingest_seq"])
        for r in runs
        if r.value["snapshot_ingest_seq"] is not None
    }
    for s in read_all(settings, BUFFER, "RawInputBufferRecord", wanted=lambda p, o: (p, o) in needed):
        driver.preload(BUFFER, s.partition, s.offset, s.key, s.value)


def _check_retention(settings: FleetSettings, runs: list[Stored]) -> None:
    """Fail clearly when retention already deleted a snapshot a run needs."""
    topic = settings.topic("market.buffer")
    consumer = Consumer(clients.reader_config(settings))
    try:
        lows = {}
        lost: dict[int, list[int]] = defaultdict(list)
        for r in runs:
            seq = r.value["snapshot_ingest_seq"]
            if seq is None:
                continue
            if r.partition not in lows:
                lows[r.partition] = clients.watermarks(consumer, topic, r.partition, 10)[0]
            if seq < lows[r.partition]:
                lost[r.partition].append(seq)
    finally:
        consumer.close()
    if lost:
        parts = "; ".join(
            f"{topic}[{p}] offsets {min(s)}..{max(s)} (low watermark now {lows[p]}, {len(s)} runs)"
            for p, s in sorted(lost.items())
        )
        raise TopicError(f"retention already deleted inputs this replay needs: {parts}")
