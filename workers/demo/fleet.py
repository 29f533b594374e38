"""Start the fleet's workers (those of topology/fleet.yaml) as separate processes and read
their consumer-group lag."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from workers.config import FleetSettings
from workers.runtime import clients
from workers.topology import Topology, load_topology


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalFleet:
    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        workers: list[str] | None = None,
        replicas: dict[str, int] | None = None,
    ) -> None:
        self.workers = workers or load_topology(1).order()
        self.replicas = replicas or {}  # worker -> processes (each its own instance and state)
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}  # each worker's /status and /metrics

    def start(self) -> None:
        for worker in self.workers:
            for i in range(self.replicas.get(worker, 1)):
                self._start(worker, f"{worker}-{i + 1}" if i else worker)

    def _start(self, worker: str, name: str) -> None:
        env = {**self.env, "REGIME_FLEET_RUNTIME__HTTP_PORT": str(self.ports.setdefault(name, free_port()))}
        if name != worker:
            env["REGIME_FLEET_RUNTIME__INSTANCE_ID"] = name
            env["REGIME_FLEET_RUNTIME__STATE_DIR"] = (
                f"{self.env.get('REGIME_FLEET_RUNTIME__STATE_DIR', 'state')}/{name}"
            )
        with (self.log_dir / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "workers.cli.main", "run", worker],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> dict[str, bool]:
        return {w: p.poll() is None for w, p in self.procs.items()}

    def stop(self, timeout: float = 30) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for worker, proc in self.procs.items():
            try:
                codes[worker] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[worker] = proc.wait()
        return codes


class GroupLag:
    """Records each worker group has yet to process on its input topics (0 when caught up:
    workers commit past trailing transaction markers). Keeps one group-less reader per group,
    so measuring again costs only the offset requests."""

    def __init__(self, settings: FleetSettings, topology: Topology, workers: list[str] | None = None) -> None:
        self.settings = settings
        self.topology = topology
        self._consumers = {
            w: Consumer(clients.consumer_config(settings, settings.group(w)))
            for w in workers or topology.order()
        }

    def measure(self) -> dict[str, int]:
        lag = {}
        for worker, consumer in self._consumers.items():
            total = 0
            for t in self.topology.worker(worker).inputs:
                topic = self.settings.topic(t)
                parts = [TopicPartition(topic, p) for p in range(self.topology.topics[t].partitions)]
                for tp in consumer.committed(parts, timeout=10):
                    _low, high = consumer.get_watermark_offsets(tp, timeout=10)
                    total += max(0, high - max(tp.offset, 0))
            lag[worker] = total
        return lag

    def wait_drained(self, timeout_s: float) -> float:
        """Seconds until every group has caught up; TimeoutError after `timeout_s`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if not any(self.measure().values()):
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"the fleet had not drained after {timeout_s:.0f} s")

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()


def group_lag(settings: FleetSettings, topology: Topology) -> dict[str, int]:
    """GroupLag, measured once."""
    lag = GroupLag(settings, topology)
    try:
        return lag.measure()
    finally:
        lag.close()
