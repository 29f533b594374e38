"""(k) Every replay against the live rate of the workers it re-runs, at two sizes.

Per size, on fresh topics: raw events (and a signal after each bar, and a 500-tree model) are
produced; the live workers then run one after another in this process (ingest, scheduler,
engine, publisher, enricher), each timed from its first output record to its last, as (b) and
(h) time theirs. Then the four replays run over what those workers published
(`replay --topic engine.runs | market.buffer | market.raw | signals.enriched`), each timed whole:
reading its topics, re-running the cores, comparing. A replay's rate is the records it re-runs
per second; its live rate is the same records over the summed time of the live workers that
processed them. At twice the records a replay whose cost is linear takes about twice the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.demo.data import synthetic_intraday
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import signal
from workers.processing.driver import Driver
from workers.replay.engine_runs import replay_engine_runs
from workers.replay.enriched import replay_enriched
from workers.replay.pipeline import replay_pipeline
from workers.replay.report import ReplayReport
from workers.runtime.app import build_worker
from workers.topics import BUFFER, ENRICHED, EVENTS, RAW, RESULTS, RUNS, SIGNALS
from workers.topology import Topology
from workers.trainer.publish import publish_model

from .enricher import meta_model
from .fresh import fresh_topics
from .measure import produce_encoded, wait_for

SYMBOLS = 8
# The live stages in order: worker, the topic its output is counted on.
STAGES = (
    ("ingest", BUFFER),
    ("scheduler", RUNS),
    ("engine", RESULTS),
    ("publisher", EVENTS),
    ("enricher", ENRICHED),
)
# Per replay: the live workers it re-runs.
REPLAYS: dict[str, tuple[str, ...]] = {
    RUNS: ("engine", "publisher"),
    BUFFER: ("scheduler", "engine", "publisher"),
    RAW: ("ingest", "scheduler", "engine", "publisher"),
    ENRICHED: ("enricher",),
}


def run_replays_bench(root: Path, stamp: str, events_per_symbol: int = 1500) -> dict[str, Any]:
    """(k) at `events_per_symbol` and at twice as many."""
    out: dict[str, Any] = {}
    model: dict[str, Any] | None = None
    for scale in (1, 2):
        n = events_per_symbol * scale
        with fresh_topics(f"bench{stamp}k{scale}.", root) as (settings, topology):
            model = model or meta_model(EnricherProcessor(settings).feature_names)
            print(f"(k) replays: {SYMBOLS * n} raw events, live workers then replays...", flush=True)
            out[f"x{scale}"] = _one_size(settings, topology, n, model)
    out["cost_ratio_2x"] = {  # twice the records: about 2 when the cost is linear
        topic: {
            "wall": round(out["x2"][topic]["replay_s"] / out["x1"][topic]["replay_s"], 2),
            "cpu": round(out["x2"][topic]["replay_cpu_s"] / out["x1"][topic]["replay_cpu_s"], 2),
        }
        for topic in REPLAYS
    }
    return {"replays": out}


def _one_size(
    settings: FleetSettings, topology: Topology, per_symbol: int, model: dict[str, Any]
) -> dict[str, Any]:
    events = synthetic_intraday(SYMBOLS, per_symbol, snapshot_every=60)
    signals = [
        signal(e["symbol"], e["event_ts_ms"] + 1, seq=i, direction=1 - i % 3, ma_spread=(i % 11) / 50)
        for i, e in enumerate(x for x in events if x["kind"] == "BAR")
    ]
    expected = _expected_counts(settings, topology, events, signals, model)
    publish_model(settings, model)
    serde = Serde()
    produce_encoded(
        settings, RAW, [(e["symbol"].encode(), serde.encode("RawMarketEvent", e)) for e in events]
    )
    live: dict[str, float] = {}
    live_cpu: dict[str, float] = {}
    for worker, counted in STAGES:
        if worker == "enricher":  # its stream input last, once its tables are all there
            produce_encoded(
                settings, SIGNALS, [(s["symbol"].encode(), serde.encode("SignalEvent", s)) for s in signals]
            )
        live[worker], live_cpu[worker] = _live(settings, topology, worker, counted, expected[counted])
    records = {
        RUNS: expected[RUNS],
        BUFFER: len(events),
        RAW: len(events),
        ENRICHED: len(signals)
        + len(events)
        + expected[EVENTS]
        + settings.partitions,  # its inputs, models too
    }
    replays: dict[str, Callable[[], ReplayReport]] = {
        RUNS: lambda: replay_engine_runs(settings),
        BUFFER: lambda: replay_pipeline(settings, BUFFER),
        RAW: lambda: replay_pipeline(settings, RAW),
        ENRICHED: lambda: replay_enriched(settings),
    }
    found: dict[str, Any] = {
        "live_s": {k: round(v, 3) for k, v in live.items()},
        "live_cpu_s": {k: round(v, 3) for k, v in live_cpu.items()},
    }
    for topic, replay in replays.items():
        wall, cpu = time.monotonic(), time.process_time()
        report = replay()
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        live_rate = records[topic] / sum(live[w] for w in REPLAYS[topic])
        live_cpu_rate = records[topic] / sum(live_cpu[w] for w in REPLAYS[topic])
        found[topic] = {
            "records": records[topic],
            "replay_s": round(wall, 3),
            "replay_cpu_s": round(cpu, 3),
            "replay_records_per_s": round(records[topic] / wall),
            "live_records_per_s": round(live_rate),
            "replay_live_ratio": round(records[topic] / wall / live_rate, 2),
            "replay_records_per_cpu_s": round(records[topic] / cpu),
            "live_records_per_cpu_s": round(live_cpu_rate),
            "replay_live_cpu_ratio": round(records[topic] / cpu / live_cpu_rate, 2),
            "matched": report.ok,
            **({} if report.ok else {"report": report.as_dict()}),
        }
    return found


def _expected_counts(
    settings: FleetSettings,
    topology: Topology,
    events: list[dict[str, Any]],
    signals: list[dict[str, Any]],
    model: dict[str, Any],
) -> dict[str, int]:
    """How many records each live stage writes: the same workers on the in-memory driver."""
    driver = Driver.for_fleet(settings, topology, [w for w, _ in STAGES])
    for p in range(settings.partitions):
        driver.feed("models", "meta", model, partition=p)
    for e in events:
        driver.feed(RAW, e["symbol"], e, partition=0)
    for s in signals:
        driver.feed(SIGNALS, s["symbol"], s, partition=0)
    planned = sum(
        1 for r in driver.received(RUNS) if isinstance(r.value, dict) and r.value["status"] == "PLANNED"
    )
    return {**{t: len(driver.received(t)) for _, t in STAGES}, RUNS: planned}


def _live(
    settings: FleetSettings, topology: Topology, worker: str, topic: str, expected: int
) -> tuple[float, float]:
    """The live worker, in this process: seconds from its first output record on `topic` to the
    last, and the process's CPU seconds meanwhile (its loop and its clients' threads; idle group
    joins cost none), less the Python time of the thread that waits for the output."""
    process = build_worker(worker, settings, topology)
    done: dict[str, float] = {}

    def finish() -> None:
        started = time.thread_time()
        try:
            done["s"] = wait_for(settings, topic, settings.partitions, expected, 600, from_first=True)
        finally:
            process.stop()
            done["waiter_cpu"] = time.thread_time() - started

    cpu = time.process_time()
    waiter = threading.Thread(target=finish)
    waiter.start()
    process.run()
    waiter.join()
    return done["s"], time.process_time() - cpu - done["waiter_cpu"]
