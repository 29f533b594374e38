"""(k) Steady-state latency of the regime pipeline at fixed offered rates: the four workers as
processes, raw events produced at the rate for a fixed time, p50/p95/p99/max from producing the
record that closes a run to its event on regime.events, and each worker's RSS and CPU seconds
per 1,000 events at the end."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workers.demo.data import synthetic_intraday
from workers.demo.fleet import LocalFleet
from workers.runtime.admin import delete_topics
from workers.topics import EVENTS

from .measure import LatencyProbe

SYMBOLS = 20
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def steady_latency(
    fresh: Callable[[str, Path], Any],
    fleet_env: Callable[[str, Path], dict[str, str]],
    root: Path,
    stamp: str,
    rates: tuple[int, ...] = (1000, 5000),
    seconds: int = 60,
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
                SYMBOLS, rate * seconds // SYMBOLS, snapshot_every=60, start_ms=1_760_000_000_000, seed=rate
            )
            probe = LatencyProbe(settings, settings.partitions)
            listener = probe.listen()
            print(f"(k) {rate} events/s for {seconds} s...", flush=True)
            elapsed = probe.produce_at(events, rate)
            time.sleep(5)
            probe.stop()
            listener.join(5)
            cpu = {w: (_cpu(fleet)[w] - cpu_before[w]) / len(events) * 1000 for w in cpu_before}
            lat = np.array(probe.latencies) * 1000
            out[f"latency_{rate}_achieved_per_s"] = len(events) / elapsed
            out[f"latency_{rate}_runs"] = int(lat.size)
            for q in (50, 95, 99):
                out[f"latency_{rate}_p{q}_ms"] = float(np.percentile(lat, q)) if lat.size else None
            out[f"latency_{rate}_max_ms"] = float(lat.max()) if lat.size else None
            out[f"latency_{rate}_rss_mb"] = {w: _rss_mb(p.pid) for w, p in fleet.procs.items()}
            out[f"latency_{rate}_cpu_s_per_1000"] = {w: round(v, 4) for w, v in cpu.items()}
        finally:
            fleet.stop()
            delete_topics(settings, [settings.topic(t) for t in topology.topics])
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
