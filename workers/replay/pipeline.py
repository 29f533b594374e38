"""`replay --topic market.buffer|market.raw`: re-run the pipeline from scratch, in process, and
compare with regime.events.

The replay is isolated by construction: the pure cores (ingest for market.raw, then scheduler,
engine, publisher) run in memory with their own empty stores; nothing is written to the live
fleet's topics, groups or state (use --output-topic to keep the replayed events).
From market.buffer the original offsets are the ingest_seq, so run_ids and hashes must match
byte for byte. From market.raw, ingest assigns fresh positions, so the comparison is on the
authoritative projection without the offset-derived identifiers (as between two fleets).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from workers.config import FleetSettings
from workers.contracts.identity import NON_AUTHORITATIVE_FIELDS
from workers.engine.processor import EngineProcessor
from workers.ingest.processor import IngestProcessor
from workers.publisher.processor import PublisherProcessor
from workers.regime import ENGINE_VERSION
from workers.replay.compare import diff, event_ref
from workers.replay.engine_runs import ReplayReport
from workers.runtime.reader import TopicError, read_all
from workers.runtime.records import Record
from workers.scheduler.processor import SchedulerProcessor
from workers.state.memory import MemoryStore
from workers.state.store import StoreView

FLEET_LOCAL = ("run_id", "event_id", "cut_start_ingest_seq", "cut_end_ingest_seq", "provenance")


def replay_pipeline(
    settings: FleetSettings,
    topic: str,
    *,
    symbol: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    if settings.scheduler.mode != "boundary":
        raise TopicError("timer-mode cuts came from the wall clock: replay --topic engine.runs instead")
    schema = "RawMarketEvent" if topic == "market.raw" else "RawInputBufferRecord"
    stored = list(read_all(settings, topic, schema, progress=progress))
    if not stored:
        raise TopicError(f"{settings.topic(topic)} is empty: nothing to replay")
    report = ReplayReport()
    started = time.monotonic()
    replayed = run_in_memory(settings, topic, stored)
    published = [s.value for s in read_all(settings, "regime.events", "OrchestratorEvent")]
    if symbol is not None:
        replayed = [v for v in replayed if v["symbol"] == symbol]
        published = [v for v in published if v["symbol"] == symbol]
    report.runs = len({v["run_id"] for v in replayed})
    exact = topic == "market.buffer"
    key: Callable[[dict[str, Any]], Any] = (
        (lambda v: (v["run_id"], v["event_type"]))
        if exact
        else (lambda v: (v["symbol"], v["engine_timestamp_ms"], v["event_type"]))
    )
    by_key = {key(v): v for v in published}
    for v in replayed:
        report.events += 1
        original = by_key.pop(key(v), None)
        if original is None:
            report.missing += 1
            report.first_divergence = report.first_divergence or {
                **event_ref(v),
                "reason": "never published",
            }
            continue
        fields = diff(original, v) if exact else diff(_project(original), _project(v))
        if fields:
            report.mismatched += 1
            report.first_divergence = report.first_divergence or {**event_ref(v), "fields": fields}
        else:
            report.matched += 1
    report.extra = len(by_key)
    report.seconds = time.monotonic() - started
    return report


def run_in_memory(settings: FleetSettings, topic: str, stored: list[Any]) -> list[dict[str, Any]]:
    """The pure cores chained in memory over stored records: the events they publish."""
    scheduler = SchedulerProcessor(settings, ENGINE_VERSION)
    buffers: dict[tuple[int, int], dict[str, Any]] = {}
    engine = EngineProcessor(
        settings.engine.model_copy(update={"fail_symbols": []}), lambda p, seq: buffers[(p, seq)]
    )
    publisher = PublisherProcessor()
    ingest = IngestProcessor(settings.ingest)
    stores: dict[str, dict[int, MemoryStore]] = defaultdict(dict)

    def views(name: str, partition: int) -> dict[str, StoreView]:
        return {name: stores[name].setdefault(partition, MemoryStore()).view()}

    def commit(name: str, partition: int, v: dict[str, StoreView]) -> None:
        stores[name][partition].commit(v[name])

    out: list[dict[str, Any]] = []
    positions: dict[int, int] = defaultdict(int)
    for s in stored:
        if topic == "market.raw":
            raw = Record("market.raw", s.partition, s.offset, s.key, s.value, s.headers)
            accepted = [o for o in ingest.process(raw, {}, 0) if o.topic == "market.buffer"]
            if not accepted:
                continue
            value, seq = accepted[0].value, positions[s.partition]
            positions[s.partition] += 1
        else:
            value, seq = s.value, s.offset
        assert isinstance(value, dict)
        buffers[(s.partition, seq)] = value
        cut_view = views("cuts", s.partition)
        planned = scheduler.process(Record("market.buffer", s.partition, seq, s.key, value, {}), cut_view, 0)
        commit("cuts", s.partition, cut_view)
        for run in planned:
            h = views("hysteresis", s.partition)
            assert isinstance(run.value, dict)
            for result in engine.process(Record("engine.runs", s.partition, 0, run.key, run.value, {}), h, 0):
                if result.topic != "engine.results" or not isinstance(result.value, dict):
                    continue
                c = views("chain", s.partition)
                rec = Record("engine.results", s.partition, 0, result.key, result.value, {})
                out += [e.value for e in publisher.process(rec, c, 0)]  # type: ignore[misc]
                commit("chain", s.partition, c)
            commit("hysteresis", s.partition, h)
    return out


def _project(v: dict[str, Any]) -> dict[str, Any]:
    body = {k: x for k, x in v.items() if k not in NON_AUTHORITATIVE_FIELDS and k not in FLEET_LOCAL}
    body["input_hash"] = v["provenance"]["input_hash"]
    return body
