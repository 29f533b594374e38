"""`replay --topic engine.runs`: re-execute every recorded run from the buffered inputs it
references, chain the results as the publisher would, and compare with regime.events.

Hysteresis seeding: a replay from the beginning starts from an empty store; with --from, each
symbol's state is seeded from its last published decision before --from.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.engine.processor import EngineProcessor
from workers.publisher.processor import RANK, PublisherProcessor
from workers.regime.hysteresis import HysteresisState
from workers.regime.persistence import to_record
from workers.replay.compare import diff, event_ref
from workers.runtime import clients
from workers.runtime.reader import Stored, TopicError, read_all
from workers.runtime.records import Record
from workers.state.memory import MemoryStore


@dataclass
class ReplayReport:
    runs: int = 0
    events: int = 0
    matched: int = 0
    mismatched: int = 0
    missing: int = 0
    extra: int = 0
    seconds: float = 0.0
    first_divergence: dict[str, Any] | None = None
    output_topic: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatched == 0 and self.missing == 0 and self.extra == 0

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, [])}
        d["match"] = self.ok
        d["runs_per_s"] = round(self.runs / self.seconds, 1) if self.seconds else None
        d["events_per_s"] = round(self.events / self.seconds, 1) if self.seconds else None
        return d


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
    serde = Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
    reader = _prefetch(settings, runs)
    engines = {
        "TRUTH": EngineProcessor(
            settings.engine.model_copy(update={"mode": "truth", "fail_symbols": []}), reader
        ),
        "HYSTERESIS": EngineProcessor(
            settings.engine.model_copy(update={"mode": "hysteresis", "fail_symbols": []}), reader
        ),
    }
    state, chain = MemoryStore(), MemoryStore()
    views = {"hysteresis": state.view()}
    chain_view = {"chain": chain.view()}
    _seed(published, symbol, start, state, chain)
    publisher = PublisherProcessor()
    by_key = {(v["run_id"], v["event_type"]): v for v in published}
    wanted = {k for k, v in by_key.items() if _in_window(v, symbol, start, end)}
    producer = Producer(clients.producer_config(settings, None)) if output_topic else None
    try:
        for i, stored in enumerate(runs, start=1):
            planned = {**stored.value, "status": "PLANNED", "attempt": 0, "error": None}
            engine = engines[planned["engine_mode"]]
            record = Record("engine.runs", stored.partition, stored.offset, stored.key, planned, {})
            for out in engine.process(record, views, 0):
                if out.topic != "engine.results":
                    continue
                assert isinstance(out.value, dict)
                result = Record("engine.results", stored.partition, 0, out.key, out.value, {})
                for event in publisher.process(result, chain_view, 0):
                    assert isinstance(event.value, dict)
                    _compare(report, by_key, wanted, event.value, ignore_chain=start is not None)
                    if producer is not None:
                        producer.produce(
                            output_topic,
                            serde.encode("OrchestratorEvent", event.value),
                            event.key.encode(),
                            partition=stored.partition,
                        )
                state.commit(views["hysteresis"])
                chain.commit(chain_view["chain"])
            report.runs += 1
            if progress is not None:
                progress(i, len(runs))
    finally:
        if producer is not None:
            producer.flush(30)
    report.extra = len(wanted)
    report.seconds = time.monotonic() - started
    return report


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
    state: MemoryStore,
    chain: MemoryStore,
) -> None:
    """Mid-stream replay: per symbol, the chain head and hysteresis state just before `start`."""
    if start is None:
        return
    last: dict[str, dict[str, Any]] = {}
    decided: dict[str, dict[str, Any]] = {}
    for v in published:
        if v["engine_timestamp_ms"] >= start or (symbol is not None and v["symbol"] != symbol):
            continue
        last[v["symbol"]] = v
        if v["event_type"] == "HysteresisDecisionPublished" and v["hysteresis_decision"]:
            decided[v["symbol"]] = v
    for sym, v in last.items():
        chain.data[sym] = {
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
        state.data[sym] = to_record(chain_state)


def _prefetch(settings: FleetSettings, runs: list[Stored]) -> Callable[[int, int], dict[str, Any]]:
    """One sequential read of market.buffer for every snapshot the runs reference: far faster
    than the live engine's per-run direct reads."""
    needed = {
        (r.partition, r.value["snapshot_ingest_seq"])
        for r in runs
        if r.value["snapshot_ingest_seq"] is not None
    }
    found = {
        (s.partition, s.offset): s.value
        for s in read_all(
            settings, "market.buffer", "RawInputBufferRecord", wanted=lambda p, o: (p, o) in needed
        )
    }

    def lookup(partition: int, seq: int) -> dict[str, Any]:
        if (partition, seq) not in found:
            raise TopicError(f"{settings.topic('market.buffer')}[{partition}]@{seq} is not a data record")
        return found[(partition, seq)]

    return lookup


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
                lows[r.partition] = consumer.get_watermark_offsets(
                    TopicPartition(topic, r.partition), timeout=10
                )[0]
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
