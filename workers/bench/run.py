"""`regime-fleet bench`: (a) raw consume->produce baseline, (b) the ingest worker on the same
records, (c) the four workers end to end: sustained events/s and produce->regime.events
latency at a fixed offered rate. Prints a table, writes bench/results/<time>.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workers.cli.jsonio import produce_lines
from workers.config import load_settings
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.demo.data import synthetic_intraday
from workers.demo.fleet import LocalFleet
from workers.ingest.app import build as build_ingest
from workers.replay.engine_runs import replay_engine_runs
from workers.runtime.admin import delete_topics, ensure_topics
from workers.topology import load_topology

from .api import run_api_only
from .enricher import in_process_latency, worker_throughput
from .latency import steady_latency
from .measure import LatencyProbe, produce_encoded, raw_copy, wait_for
from .state import mode_throughput, restore_times
from .training import labeler_throughput, training_time

PARTITIONS = 2
SYMBOLS = 20


def _fleet_env(prefix: str, root: Path) -> dict[str, str]:
    return {
        "REGIME_FLEET_TOPIC_PREFIX": prefix,
        "REGIME_FLEET_PARTITIONS": str(PARTITIONS),
        "REGIME_FLEET_SCHEDULER__INTERVAL_MS": "60000",
        "REGIME_FLEET_RUNTIME__STATE_DIR": str(root / prefix / "state"),
        "REGIME_FLEET_LOG_LEVEL": "WARNING",
    }


def _fresh(prefix: str, root: Path) -> Any:
    os.environ.update(_fleet_env(prefix, root))
    settings = load_settings()
    topology = load_topology(settings.partitions)
    ensure_topics(settings, topology)
    return settings, topology


def run_bench(args: argparse.Namespace) -> int:
    root = Path(".cache") / "bench"
    stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}"
    events = synthetic_intraday(SYMBOLS, args.events // SYMBOLS, snapshot_every=60)
    lines = [dumps(e) for e in events]
    n = len(events)
    serde = Serde()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "events": n,
    }
    cleanup: list[tuple[Any, Any]] = []
    if getattr(args, "only", None) == "enricher":
        results.update(_enricher(root, stamp))
        return _report(results, stamp)
    if getattr(args, "only", None) == "latency":
        seconds = int(os.environ.get("BENCH_SECONDS", "60"))
        results.update(
            steady_latency(
                _fresh, _fleet_env, root, stamp, seconds=seconds, trace=os.environ.get("BENCH_TRACE") == "1"
            )
        )
        return _report(results, stamp)
    if getattr(args, "only", None) == "training":
        results.update(_training(root, stamp))
        return _report(results, stamp)
    if getattr(args, "only", None) == "api":
        results.update(run_api_only(args, _fresh, _fleet_env, root, stamp))
        return _report(results, stamp)
    try:
        # (a) and (b): the same pre-produced records, copied raw, then through ingest.
        settings, topology = _fresh(f"bench{stamp}a.", root)
        cleanup.append((settings, topology))
        produce_lines(settings, topology, "market.raw", lines)
        print(f"(a) raw consume->produce copy of {n} records...", flush=True)
        raw_s = raw_copy(settings, "market.raw", "market.buffer", n)
        results["raw_copy_events_per_s"] = n / raw_s

        settings, topology = _fresh(f"bench{stamp}b.", root)
        cleanup.append((settings, topology))
        produce_lines(settings, topology, "market.raw", lines)
        print(f"(b) ingest worker on {n} records...", flush=True)
        worker = build_ingest(settings, topology)
        done: dict[str, float] = {}

        def finish() -> None:
            done["s"] = wait_for(settings, "market.buffer", PARTITIONS, n, 600, from_first=True)
            worker.stop()

        waiter = threading.Thread(target=finish)
        waiter.start()
        worker.run()
        waiter.join()
        results["ingest_events_per_s"] = n / done["s"]
        results["ingest_raw_ratio"] = results["ingest_events_per_s"] / results["raw_copy_events_per_s"]

        # (c) the four workers: sustained throughput, then latency at a fixed offered rate.
        settings, topology = _fresh(f"bench{stamp}c.", root)
        cleanup.append((settings, topology))
        regime_workers = topology.upstream("regime.events")
        fleet = LocalFleet(
            _fleet_env(settings.topic_prefix, root), root / settings.topic_prefix, regime_workers
        )
        fleet.start()
        try:
            time.sleep(8)  # group joins
            runs = sum(1 for e in events if e["kind"] == "SNAPSHOT_INPUTS")
            print(f"(c) end to end: {n} events as fast as possible...", flush=True)
            encoded = [(e["symbol"].encode(), serde.encode("RawMarketEvent", e)) for e in events]
            started = time.monotonic()
            produce_encoded(settings, "market.raw", encoded)
            e2e_s = wait_for(settings, "regime.events", PARTITIONS, 2 * (runs - SYMBOLS), 900)
            results["end_to_end_events_per_s"] = n / (time.monotonic() - started)
            results["end_to_end_seconds"] = e2e_s
            print(f"(c) latency at {args.rate} events/s...", flush=True)
            probe = LatencyProbe(settings, PARTITIONS)
            listener = probe.listen()
            later = synthetic_intraday(
                SYMBOLS,
                min(args.rate * 10, args.events) // SYMBOLS,
                snapshot_every=60,
                start_ms=1_760_000_000_000,  # after phase (c), not ahead of the wall clock
                seed=11,
            )
            for e in later:
                e["event_id"] = "lat-" + e["event_id"]
            probe.produce_at(later, args.rate)
            time.sleep(5)
            probe.stop()
            listener.join(5)
            lat = np.array(probe.latencies()) * 1000
            results["latency_rate_events_per_s"] = args.rate
            results["latency_runs"] = int(lat.size)
            results["latency_p50_ms"] = float(np.percentile(lat, 50)) if lat.size else None
            results["latency_p99_ms"] = float(np.percentile(lat, 99)) if lat.size else None
        finally:
            results["worker_exit_codes"] = fleet.stop()

        print("(d) replay of the recorded runs of (c)...", flush=True)
        replay = replay_engine_runs(settings)
        results["replay_runs_per_s"] = replay.runs / replay.seconds
        results["replay_events_per_s"] = replay.events / replay.seconds
        results["live_runs_per_s"] = (runs - SYMBOLS) / e2e_s
        results["replay_live_ratio"] = results["replay_runs_per_s"] / results["live_runs_per_s"]
        results["replay_matched"] = replay.ok

        print("(e) state: restore of 10,000 symbols, hysteresis vs truth...", flush=True)
        settings, topology = _fresh(f"bench{stamp}e.", root)
        cleanup.append((settings, topology))
        results.update(restore_times(settings))
        results.update(mode_throughput(settings))

        results.update(_enricher(root, stamp))
        results.update(_training(root, stamp))
        results.update(run_api_only(args, _fresh, _fleet_env, root, stamp))
    finally:
        for settings, topology in cleanup:
            delete_topics(settings, [settings.topic(t) for t in topology.topics])
    return _report(results, stamp)


def _enricher(root: Path, stamp: str) -> dict[str, Any]:
    return _on_fresh_topics(
        root,
        f"bench{stamp}f.",
        [
            (
                "(g) enrichment in process, one signal at a time, 500 trees",
                lambda s, t: in_process_latency(s),
            ),
            ("(h) the enricher worker on the broker, 500 trees", worker_throughput),
        ],
    )


def _training(root: Path, stamp: str) -> dict[str, Any]:
    return _on_fresh_topics(
        root,
        f"bench{stamp}i.",
        [
            (
                "(i) training on 260,000 seeded bars, 5-fold purged CV and the final fit",
                lambda s, t: training_time(s),
            ),
            ("(j) the labeler worker on the broker", labeler_throughput),
        ],
    )


def _on_fresh_topics(
    root: Path, prefix: str, parts: list[tuple[str, Callable[[Any, Any], dict[str, Any]]]]
) -> dict[str, Any]:
    """Each part in turn on one fresh set of topics, deleted afterwards; what they found."""
    settings, topology = _fresh(prefix, root)
    found: dict[str, Any] = {}
    try:
        for title, measure in parts:
            print(f"{title}...", flush=True)
            found.update(measure(settings, topology))
    finally:
        delete_topics(settings, [settings.topic(t) for t in topology.topics])
    return found


def _report(results: dict[str, Any], stamp: str) -> int:
    out = Path("bench") / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'measure':34} value")
    for key, value in results.items():
        if not isinstance(value, dict):
            print(f"{key:34} {value:.2f}" if isinstance(value, float) else f"{key:34} {value}")
    if "ingest_raw_ratio" in results:
        print(f"ingest/raw throughput ratio: {results['ingest_raw_ratio']:.2f}")
    return 0
