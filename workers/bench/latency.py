"""(k) Steady-state latency of the regime pipeline at fixed offered rates: the four workers as
processes, raw events produced at the rate for a fixed time, p50/p95/p99/max from producing the
record that closes a run to its event on regime.events, and each worker's RSS and CPU seconds
per 1,000 events at the end."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from workers.demo.data import synthetic_intraday
from workers.demo.fleet import LocalFleet
from workers.runtime.admin import delete_topics
from workers.topics import EVENTS

from .hops import HopTracer, print_breakdown
from .measure import LatencyProbe

SYMBOLS = 20
WARMUP_S = 5  # offered before the measured period: the first runs pay for connections and fetch sessions
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def steady_latency(
    fresh: Callable[[str, Path], Any],
    fleet_env: Callable[[str, Path], dict[str, str]],
    root: Path,
    stamp: str,
    rates: tuple[int, ...] = (1000, 5000),
    seconds: int = 60,
    trace: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rate in rates:
        settings, topology = fresh(f"bench{stamp}k{rate}.", root)
        fleet = LocalFleet(
            fleet_env(settings.topic_prefix, root), root / settings.topic_prefix, topology.upstream(EVENTS)
        )
        fleet.start()
        try:
            time.sleep(8)  # group joins
            cpu_before = _cpu(fleet)
            events = synthetic_intraday(
                SYMBOLS,
                rate * (seconds + WARMUP_S) // SYMBOLS,
                snapshot_every=60,
                start_ms=1_760_000_000_000,
                seed=rate,
            )
            probe = LatencyProbe(settings, settings.partitions)
            listener = probe.listen()
            tracer = HopTracer(settings, settings.partitions)
            if trace:
                tracer.start()
            print(f"(k) {rate} events/s for {seconds} s...", flush=True)
            measured_from = time.time() + WARMUP_S
            elapsed = probe.produce_at(events, rate)
            time.sleep(5)
            probe.stop()
            listener.join(5)
            tracer.stop()
            if trace:
                out[f"latency_{rate}_hops"] = tracer.breakdown(measured_from)
                print_breakdown(rate, out[f"latency_{rate}_hops"])
            cpu = {w: (_cpu(fleet)[w] - cpu_before[w]) / len(events) * 1000 for w in cpu_before}
            lat = np.array(probe.latencies(measured_from)) * 1000
            out[f"latency_{rate}_achieved_per_s"] = len(events) / elapsed
            out[f"latency_{rate}_runs"] = int(lat.size)
            for q in (50, 95, 99):
                out[f"latency_{rate}_p{q}_ms"] = float(np.percentile(lat, q)) if lat.size else None
            out[f"latency_{rate}_max_ms"] = float(lat.max()) if lat.size else None
            out[f"latency_{rate}_rss_mb"] = {w: _rss_mb(p.pid) for w, p in fleet.procs.items()}
            out[f"latency_{rate}_cpu_s_per_1000"] = {w: round(v, 4) for w, v in cpu.items()}
            out[f"latency_{rate}_checkpoints"] = _checkpoints(fleet, elapsed)
        finally:
            fleet.stop()
            delete_topics(settings, [settings.topic(t) for t in topology.topics])
    return out


def _checkpoints(fleet: LocalFleet, seconds: float) -> dict[str, dict[str, float]]:
    """Per worker from its /metrics: checkpoints per second, their mean duration, the mean batch."""
    out = {}
    for worker, port in fleet.ports.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.endswith(("_sum", "_count"))
        }
        commits = samples.get("regime_fleet_checkpoint_seconds_count", 0.0)
        batches = samples.get("regime_fleet_batch_size_count", 0.0)
        out[worker] = {
            "checkpoints_per_s": round(commits / seconds, 1),
            "checkpoint_ms": round(
                1000 * samples.get("regime_fleet_checkpoint_seconds_sum", 0.0) / max(commits, 1), 1
            ),
            "batch": round(samples.get("regime_fleet_batch_size_sum", 0.0) / max(batches, 1), 1),
        }
    return out


def _cpu(fleet: LocalFleet) -> dict[str, float]:
    """User + system CPU seconds of each worker process so far."""
    out = {}
    for worker, proc in fleet.procs.items():
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[worker] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
