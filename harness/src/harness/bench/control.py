"""`python -m harness.bench.control`: control command -> applied on every partition, p99.

The six workers of the fleet run idle on topics of their own; commands (pause and resume of a
symbol, alternately) are recorded on fleet.control one at a time; each worker instance stamps
when it applied each one (wall ms, on its heartbeat). A command's latency is the latest
instance's stamp minus the command's `issued_at_ms` (one machine, one clock)."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import KafkaException

from harness.bench.fresh import fleet_env, fresh_topics
from harness.launcher import Launcher
from workers.config import FleetSettings
from workers.runtime.commands import Command, Target, command
from workers.runtime.control import Recorder
from workers.runtime.heartbeat import read_heartbeats
from workers.topology import Topology


def _running(settings: FleetSettings) -> dict[str, dict[str, Any]]:
    """worker -> its running instance's latest heartbeat ({} while the topic is being led)."""
    try:
        beats = read_heartbeats(settings, 5)
    except KafkaException:
        return {}
    return {b["worker"]: b for b in beats.values() if b.get("lifecycle") == "running"}


def _instances(settings: FleetSettings, workers: list[str]) -> dict[str, dict[str, Any]]:
    """worker -> its running instance's heartbeat, once every worker has partitions."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        beats = _running(settings)
        if all(beats.get(w, {}).get("assignment") for w in workers):
            return beats
        time.sleep(0.5)
    raise TimeoutError(f"not every worker of {workers} ran with partitions within 120 s")


def control_latency(
    settings: FleetSettings, topology: Topology, root: Path, n: int = 60, gap_s: float = 0.25
) -> dict[str, Any]:
    workers = topology.order()
    with Launcher(
        root / settings.topic_prefix, {**os.environ, **fleet_env(settings.topic_prefix, root)}
    ) as fleet:
        for worker in workers:
            fleet.start(worker)
        _instances(settings, workers)
        issued: list[Command] = []
        recorder = Recorder(settings)
        # Not timed: the first record() connects the recorder's producer (~0.5 s), which the
        # api does once per process, not per command.
        recorder.record(
            command(
                "resume",
                Target(symbol="WARM-UP"),
                workers=workers,
                partitions=settings.partitions,
                now_ms=int(time.time() * 1000),
                mode="pause",
            )
        )
        time.sleep(1.0)
        for i in range(n):
            action = "pause" if i % 2 == 0 else "resume"
            cmds = command(
                action,
                Target(symbol=f"S{i // 2 % 7}"),
                workers=workers,
                partitions=settings.partitions,
                now_ms=int(time.time() * 1000),
                mode="pause" if action == "resume" else None,
            )
            recorder.record(cmds)
            issued += cmds
            time.sleep(gap_s)
        ids = {c.command_id for c in issued}
        deadline = time.monotonic() + 60
        while True:
            beats = _running(settings)
            if all(ids <= set(beats.get(w, {}).get("applied", {})) for w in workers):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("commands not applied by every worker within 60 s")
            time.sleep(0.5)
    latencies = np.array(
        [max(beats[w]["applied"][c.command_id] for w in workers) - c.issued_at_ms for c in issued]
    )
    return {
        "control_commands": n,
        "control_instances": len(workers),
        "control_partitions": settings.partitions,
        "control_applied_p50_ms": float(np.percentile(latencies, 50)),
        "control_applied_p99_ms": float(np.percentile(latencies, 99)),
        "control_applied_max_ms": float(latencies.max()),
        "control_applied_p99_ms_by_worker": {
            w: float(np.percentile([beats[w]["applied"][c.command_id] - c.issued_at_ms for c in issued], 99))
            for w in workers
        },
    }


def run_control_only(root: Path, stamp: str) -> dict[str, Any]:
    """`bench --only control` (to be registered in bench/run.py): on topics of its own."""
    with fresh_topics(f"bench{stamp}c.", root) as (settings, topology):
        print("control: command -> applied on every partition of every worker...", flush=True)
        return control_latency(settings, topology, root)


if __name__ == "__main__":
    result = run_control_only(Path(".cache") / "bench", f"{datetime.now(UTC):%Y%m%d%H%M%S}")
    json.dump(result, sys.stdout, indent=2)
    print()
