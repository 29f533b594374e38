"""`replay --topic market.buffer|market.raw`: re-run the fleet from scratch, in process, on the
in-memory driver, and compare with regime.events.

The replay is isolated by construction: every worker downstream of the topic (per
topology/fleet.yaml) runs in memory with its own empty stores; nothing is written to the live
fleet's topics, groups or state. From market.buffer the original offsets are the ingest_seq,
so run_ids and hashes must match byte for byte. From market.raw, ingest assigns fresh
positions, so the comparison is on the authoritative projection without the offset-derived
identifiers (as between two fleets).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from workers.config import FleetSettings
from workers.contracts.identity import NON_AUTHORITATIVE_FIELDS
from workers.contracts.input_hash import CURRENT
from workers.replay.compare import diff, event_ref
from workers.replay.driver import ReplayDriver
from workers.replay.report import ReplayReport
from workers.runtime.reader import Stored, TopicError, read_all
from workers.scheduler.processor import SchedulerProcessor
from workers.scheduler.settings import SchedulerSettings
from workers.topics import BUFFER, EVENTS, RUNS
from workers.topology import load_topology

FLEET_LOCAL = ("run_id", "event_id", "cut_start_ingest_seq", "cut_end_ingest_seq", "provenance")


def replay_pipeline(
    settings: FleetSettings,
    topic: str,
    *,
    symbol: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    if SchedulerSettings.of(settings).mode != "boundary":
        raise TopicError("timer-mode cuts came from the wall clock: replay --topic engine.runs instead")
    schema = load_topology(settings.partitions).topics[topic].value_schema
    assert schema is not None
    stored = list(read_all(settings, topic, schema, progress=progress))
    if not stored:
        raise TopicError(f"{settings.topic(topic)} is empty: nothing to replay")
    report = ReplayReport()
    started = time.monotonic()
    replayed = run_in_memory(settings, topic, stored, recorded_hash_versions(settings))
    published = [s.value for s in read_all(settings, EVENTS, "OrchestratorEvent")]
    if symbol is not None:
        replayed = [v for v in replayed if v["symbol"] == symbol]
        published = [v for v in published if v["symbol"] == symbol]
    report.runs = len({v["run_id"] for v in replayed})
    exact = topic == BUFFER
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
            report.first_divergence = report.first_divergence or {**event_ref(v), "reason": "never published"}
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


def run_in_memory(
    settings: FleetSettings,
    topic: str,
    stored: list[Stored],
    hash_versions: Mapping[str, list[int]] | None = None,
) -> list[dict[str, Any]]:
    """The workers between `topic` and regime.events, on the driver, over stored records: what
    they publish. `hash_versions`: per symbol, the input hash version of each of its cuts in
    order (what the live scheduler used, from its recorded runs); later cuts use the current one."""
    topology = load_topology(settings.partitions)
    between = [w for w in topology.downstream(topic) if w in topology.upstream(EVENTS)]
    driver = ReplayDriver.for_replay(settings, topology, between)
    scheduler = driver.processors.get("scheduler")
    if hash_versions and isinstance(scheduler, SchedulerProcessor):
        scheduler.cut_hash_version = _recorded_versions(hash_versions)
    for s in stored:
        feed_stored(driver, topic, s)
    return [dict(e.value) for e in driver.received(EVENTS) if not isinstance(e.value, bytes)]


def feed_stored(driver: ReplayDriver, topic: str, s: Stored) -> None:
    """A record read from Kafka into the driver, at its original offset, with its bytes."""
    driver.feed(
        topic,
        s.key,
        s.value,
        partition=s.partition,
        offset=s.offset,
        timestamp_ms=s.timestamp_ms,
        headers=s.headers,
        raw=s.raw,
    )


def recorded_hash_versions(settings: FleetSettings) -> dict[str, list[int]]:
    """Per symbol, the input hash version of each recorded run, in engine time order: runs the
    fleet hashed with v1 replay with v1."""
    runs: dict[str, tuple[str, int, int]] = {}
    try:
        for s in read_all(settings, RUNS, "EngineRunRecord"):
            v = s.value
            runs[v["run_id"]] = (v["symbol"], v["engine_timestamp_ms"], v["input_hash_version"])
    except TopicError:
        return {}
    out: dict[str, list[int]] = {}
    for symbol, _, version in sorted(runs.values()):
        out.setdefault(symbol, []).append(version)
    return out


def _recorded_versions(versions: Mapping[str, list[int]]) -> Callable[[str], int]:
    """The scheduler's version for each cut a symbol opens: the recorded ones in turn, then the current."""
    queues = {symbol: deque(vs) for symbol, vs in versions.items()}

    def version(symbol: str) -> int:
        queue = queues.get(symbol)
        return queue.popleft() if queue else CURRENT

    return version


def _project(v: dict[str, Any]) -> dict[str, Any]:
    body = {k: x for k, x in v.items() if k not in NON_AUTHORITATIVE_FIELDS and k not in FLEET_LOCAL}
    body["input_hash"] = v["provenance"]["input_hash"]
    return body
