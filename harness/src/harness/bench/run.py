"""`regime-fleet bench`: (a) raw consume->produce baseline, (b) the ingest worker on the same
records, (c) the four workers in steady state (fixed rates, the maximum, overload), (l) what a
second process of the busiest worker buys; `--all` adds (d)-(j) and the api, `--only` runs one
part. Prints a table, writes bench/results/<time>.json; the last line is the ingest/raw ratio."""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.demo.data import synthetic_intraday
from harness.lag import GroupLag
from harness.launcher import Launcher
from workers.config import load_settings
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.replay.engine_runs import replay_engine_runs
from workers.runtime.app import build_worker
from workers.runtime.topic_io import produce_lines
from workers.topics import EVENTS

from .api import run_api_only
from .asof import run_asof_bench
from .control import run_control_only
from .enricher import challenger_cost, in_process_latency, worker_throughput
from .fresh import PARTITIONS, fleet_env, fresh_topics
from .measure import produce_encoded, raw_copy, wait_for
from .neighbours import run_neighbours_only
from .profile import run_profile_only
from .replays import run_replays_bench
from .state import mode_throughput, restore_times
from .steady import Offered, Window, capacity, checkpoints, run_windows, steady_fleet
from .training import labeler_throughput, training_time

SYMBOLS = 20


@dataclass(frozen=True)
class Plan:
    """How long each part runs: the full bench, or `--quick` (about a minute)."""

    events: int  # (a) and (b)
    fixed: tuple[int, ...]  # the fixed offered rates of (c)
    seconds: float  # each window of (c)
    scale_out_s: float  # each capacity run of (l); 0: left out

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(events=50_000, fixed=(5_000,), seconds=15, scale_out_s=0)
        seconds = float(os.environ.get("BENCH_SECONDS", "60"))
        return cls(events=args.events, fixed=(1_000, 5_000, 10_000), seconds=seconds, scale_out_s=30)


def run_bench(args: argparse.Namespace) -> int:
    root = Path(".cache") / "bench"
    stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}"
    plan = Plan.of(args)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "plan": asdict(plan),
    }
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "ingest": lambda: _ingest(root, stamp, plan.events),
        "steady": lambda: _steady(root, stamp, plan),
        "scale-out": lambda: _scale_out(root, stamp, plan, results),
        "replay": lambda: _replay_and_state(root, stamp),
        "enricher": lambda: _enricher(root, stamp),
        "training": lambda: _training(root, stamp),
        "api": lambda: run_api_only(root, stamp),
        "asof": run_asof_bench,
        "control": lambda: run_control_only(root, stamp),
        "nautilus": lambda: _nautilus(root),
        "replays": lambda: run_replays_bench(root, stamp),
        "neighbours": lambda: run_neighbours_only(root, stamp),
        "profile": lambda: run_profile_only(root, stamp),
    }
    every = [p for p in parts if p != "profile"]  # (p) samples with py-spy: asked for alone
    chosen = [args.only] if args.only else every if args.all else ["ingest", "steady", "scale-out"]
    for name in chosen:
        if name == "scale-out" and not plan.scale_out_s:
            continue
        results.update(parts[name]())
    return _report(results, stamp)


def _ingest(root: Path, stamp: str, n_events: int) -> dict[str, Any]:
    """(a) and (b): the same pre-produced records, copied raw, then through ingest."""
    events = synthetic_intraday(SYMBOLS, n_events // SYMBOLS, snapshot_every=60)
    lines = [dumps(e) for e in events]
    n = len(events)
    results: dict[str, Any] = {"events": n}
    with fresh_topics(f"bench{stamp}a.", root) as (settings, topology):
        produce_lines(settings, topology, "market.raw", lines)
        print(f"(a) raw consume->produce copy of {n} records...", flush=True)
        results["raw_copy_events_per_s"] = n / raw_copy(settings, "market.raw", "market.buffer", n)
    with fresh_topics(f"bench{stamp}b.", root) as (settings, topology):
        produce_lines(settings, topology, "market.raw", lines)
        print(f"(b) ingest worker on {n} records...", flush=True)
        worker = build_worker("ingest", settings, topology)
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
    return results


def _steady(root: Path, stamp: str, plan: Plan) -> dict[str, Any]:
    """(c) the four workers in steady state, window after window on one fleet."""
    windows = [Window(f"rate_{r}", r, plan.seconds) for r in plan.fixed]
    offered = Offered()
    trace = os.environ.get("BENCH_TRACE") == "1"
    with steady_fleet(root, f"bench{stamp}c.", trace=trace) as steady:
        found = run_windows(steady, offered, windows, plan.seconds)
        found["checkpoints"] = checkpoints(steady.fleet, time.time() - steady.started)
    return {
        "steady": found,
        "sustained_events_per_s": found["max"]["achieved_per_s"] if found["max"]["sustained"] else None,
    }


def _scale_out(root: Path, stamp: str, plan: Plan, results: dict[str, Any]) -> dict[str, Any]:
    """(l) capacity with 6 partitions: one process of each worker, then two of the busiest."""
    cpu = results.get("steady", {}).get("max", {}).get("cpu_s_per_1000") or {"ingest": 1.0}
    busiest = max(cpu, key=lambda w: cpu[w])
    found: dict[str, Any] = {"busiest": busiest}
    for replicas in (1, 2):
        offered = Offered(seed=replicas)
        print(f"(l) capacity, 6 partitions, {replicas} x {busiest}...", flush=True)
        with steady_fleet(
            root, f"bench{stamp}l{replicas}.", partitions=6, replicas={busiest: replicas}
        ) as steady:
            found[f"events_per_s_{replicas}"] = round(capacity(steady, offered, plan.scale_out_s))
    found["ratio"] = round(found["events_per_s_2"] / max(found["events_per_s_1"], 1), 2)
    return {"scale_out": found}


def _replay_and_state(root: Path, stamp: str) -> dict[str, Any]:
    """(d) replay of a burst's recorded runs against the live rate; (e) state restore and modes."""
    events = synthetic_intraday(SYMBOLS, 40_000 // SYMBOLS, snapshot_every=60)
    serde = Serde()
    results: dict[str, Any] = {}
    with fresh_topics(f"bench{stamp}d.", root) as (settings, topology):
        env = {**os.environ, **fleet_env(settings.topic_prefix, root)}
        with Launcher(root / settings.topic_prefix, env) as fleet:
            fleet.start_fleet(topology.upstream(EVENTS))
            time.sleep(8)  # group joins
            runs = sum(1 for e in events if e["kind"] == "SNAPSHOT_INPUTS")
            print(f"(d) {len(events)} events through the fleet, then the replay of their runs...", flush=True)
            produce_encoded(
                settings,
                "market.raw",
                [(e["symbol"].encode(), serde.encode("RawMarketEvent", e)) for e in events],
            )
            live_s = wait_for(settings, "regime.events", PARTITIONS, 2 * (runs - SYMBOLS), 900)
            lag = GroupLag(settings, topology, fleet.workers)
            try:
                lag.wait_drained(60)  # every planned run published: the replay compares all of them
            finally:
                lag.close()
            results["worker_exit_codes"] = fleet.stop_all()
            replay = replay_engine_runs(settings)
    results["replay_runs_per_s"] = replay.runs / replay.seconds
    results["replay_events_per_s"] = replay.events / replay.seconds
    results["live_runs_per_s"] = (runs - SYMBOLS) / live_s
    results["replay_live_ratio"] = results["replay_runs_per_s"] / results["live_runs_per_s"]
    results["replay_matched"] = replay.ok
    if not replay.ok:
        results["replay_report"] = replay.as_dict()
    print("(e) state: restore of 10,000 symbols, hysteresis vs truth...", flush=True)
    with fresh_topics(f"bench{stamp}e.", root) as (settings, _topology):
        results.update(restore_times(settings))
        results.update(mode_throughput(settings))
    return results


def _enricher(root: Path, stamp: str) -> dict[str, Any]:
    print("(n) a challenger scored in shadow against none, in process, 500 trees each...", flush=True)
    found = challenger_cost(load_settings())
    return found | _on_fresh_topics(
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
    """Each part in turn on one fresh set of topics; what they found."""
    found: dict[str, Any] = {}
    with fresh_topics(prefix, root) as (settings, topology):
        for title, measure in parts:
            print(f"{title}...", flush=True)
            found.update(measure(settings, topology))
    return found


def _report(results: dict[str, Any], stamp: str) -> int:
    out = Path("bench") / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    steady = results.get("steady")
    if steady:
        print(
            f"\n{'window':10} {'offered':>8} {'achieved':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
            f"{'peak lag':>9} {'end lag':>8}  ms, events/s, records"
        )
        for name, w in steady.items():
            if isinstance(w, dict) and "p50_ms" in w:
                print(
                    f"{name:10} {w['offered_per_s'] or '-':>8} {w['achieved_per_s']:>8} {_ms(w['p50_ms'])} "
                    f"{_ms(w['p95_ms'])} {_ms(w['p99_ms'])} {_ms(w['max_ms'])} {w['peak_lag'] or 0:>9} {w['end_lag'] or 0:>8}"
                )
    print(f"\n{'measure':34} value")
    for key, value in _flat(results):
        print(f"{key:34} {value:.2f}" if isinstance(value, float) else f"{key:34} {value}")
    if "ingest_raw_ratio" in results:
        print(f"ingest/raw throughput ratio: {results['ingest_raw_ratio']:.2f}")
    return 0


def _ms(value: float | None) -> str:
    return f"{value:7.0f}" if value is not None else f"{'-':>7}"


def _flat(results: dict[str, Any]) -> list[tuple[str, Any]]:
    """The scalar results, and the steady run's and the scale-out's own scalars."""
    out = [(k, v) for k, v in results.items() if not isinstance(v, dict)]
    for section in ("steady", "scale_out"):
        out += [(f"{section}.{k}", v) for k, v in results.get(section, {}).items() if not isinstance(v, dict)]
    out += [
        (f"steady.max.{k}", v)
        for k, v in results.get("steady", {}).get("max", {}).items()
        if k in ("sustained",)
    ]
    return out


def _nautilus(root: Path) -> dict[str, Any]:
    """The Redis bridge both ways (a local Redis unless REDIS_URL is set)."""
    from harness.redis.local import LocalRedis

    from .nautilus import run as run_bridge

    url = os.environ.get("REDIS_URL") or LocalRedis(port=int(os.environ.get("REDIS_PORT", "6399"))).up()
    return run_bridge(20_000, root / "nautilus", url)
