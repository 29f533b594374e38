"""An isolated fleet on the session broker: its own topic prefix, state dirs, and processes
(started and always reaped by the harness's one launcher)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from harness.launcher import DAY_MS, Launcher, isolated_env, settings_in
from tests import faults
from workers import clients
from workers.config import FleetSettings
from workers.contracts.json_form import dumps
from workers.runtime.admin import delete_topics, ensure_topics
from workers.runtime.topic_io import consume_records, produce_lines
from workers.topology import load_topology

__all__ = ["DAY_MS", "Fleet", "http_get", "worker_status"]


class Fleet:
    def __init__(self, bootstrap: str, prefix: str, root: Path, overrides: dict[str, str]) -> None:
        self.prefix = prefix
        self.root = root
        self.env = isolated_env(bootstrap, prefix, root, overrides)
        self.launcher = Launcher(root, self.env)

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        """The latest process of each name (the launcher also keeps the ones replaced)."""
        return self.launcher.procs

    def settings(self) -> FleetSettings:
        return settings_in(self.env)

    def create_topics(self) -> None:
        s = self.settings()
        ensure_topics(s, load_topology(s.partitions))

    def start(self, worker: str, name: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {f"REGIME_FLEET_{k.upper()}": v for k, v in extra_env.items()}
        return self.launcher.start(worker, name, env=env)

    def start_faulty(
        self, worker: str, *, fault_file: Path | None = None, fail_symbols: list[str] = (), **extra_env: str
    ) -> subprocess.Popen[bytes]:
        """The worker run by the tests' fault injector (tests/faults.py), failing as told."""
        env = {f"REGIME_FLEET_{k.upper()}": v for k, v in extra_env.items()}
        env[faults.FAIL_SYMBOLS] = json.dumps(list(fail_symbols))
        if fault_file is not None:
            env[faults.FAULT_FILE] = str(fault_file)
        return self.launcher.start(worker, env=env, command=(sys.executable, "-m", "tests.faults"))

    def start_all(self) -> None:
        for worker in ("ingest", "scheduler", "engine", "publisher"):
            self.start(worker)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """`sig`, and the exit code; TimeoutExpired (after a SIGKILL) when it did not exit in time."""
        code = self.launcher.terminate(name, timeout, sig)
        proc = self.procs.pop(name)
        if code is None:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        return code

    def log(self, name: str) -> str:
        return self.launcher.log(name)

    def produce(self, topic: str, values: list[dict[str, Any]]) -> int:
        s = self.settings()
        report = produce_lines(s, load_topology(s.partitions), topic, (dumps(v) for v in values))
        assert not report.rejected, report.rejected
        return report.produced

    def consume(self, topic: str, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Read from the beginning until `expected` records arrived or `timeout` passed."""
        s = self.settings()
        deadline = time.monotonic() + timeout
        records: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            records = list(
                consume_records(
                    s,
                    load_topology(s.partitions),
                    topic,
                    from_beginning=True,
                    max_records=None,
                    timeout_s=2,
                )
            )
            if len(records) >= expected:
                return records
            time.sleep(1)
        return records

    def teardown(self) -> None:
        """SIGKILL every process this fleet started (replaced ones too), then its topics."""
        self.launcher.reap(grace_s=0)
        self.procs.clear()
        s = self.settings()
        delete_topics(s, [s.topic(t) for t in load_topology(s.partitions).topics])


def http_get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of a worker endpoint; HTTP errors are answers too."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def worker_status(port: int) -> dict[str, Any]:
    import json

    return dict(json.loads(http_get(port, "/status")[1]))


def wait_consumed(
    fleet: Fleet, topics: tuple[str, ...], group: str = "enricher", timeout: float = 60
) -> None:
    """Until the worker's group has committed every record of these topics."""
    s = fleet.settings()
    consumer = Consumer(clients.consumer_config(s, s.group(group)))
    partitions = [TopicPartition(s.topic(t), p) for t in topics for p in range(s.partitions)]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                committed = consumer.committed(partitions, timeout=10)
            except KafkaException:  # the group's coordinator is still being elected
                time.sleep(0.5)
                continue
            ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
            if all(c.offset >= end for c, end in zip(committed, ends, strict=True) if end > 0):
                return
            time.sleep(0.5)
    finally:
        consumer.close()
    raise AssertionError(f"{group} did not consume {topics} in {timeout} s")


def model_versions(enriched: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Per signal partition, the model version of each enriched signal in signal order."""
    out: dict[int, list[str]] = {}
    for e in sorted(enriched, key=lambda e: e["provenance"]["signal_offset"]):
        out.setdefault(e["provenance"]["signal_partition"], []).append(e["model_version"])
    return out


def switches(versions: list[str]) -> int:
    """How many times the model changed from one signal to the next."""
    return sum(1 for i in range(1, len(versions)) if versions[i] != versions[i - 1])
