"""An isolated fleet on the session broker: its own topic prefix, state dirs, and processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from workers.cli.jsonio import consume_records, produce_lines
from workers.config import FleetSettings, load_settings
from workers.contracts.json_form import dumps
from workers.runtime.admin import delete_topics, ensure_topics
from workers.topology import load_topology

DAY_MS = 86_400_000


class Fleet:
    def __init__(self, bootstrap: str, prefix: str, root: Path, overrides: dict[str, str]) -> None:
        self.prefix = prefix
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "REGIME_FLEET_TOPIC_PREFIX": prefix,
            "REGIME_FLEET_PARTITIONS": "2",
            "REGIME_FLEET_RUNTIME__STATE_DIR": str(root / "state"),
            "REGIME_FLEET_RUNTIME__SESSION_TIMEOUT_MS": "6000",
            "REGIME_FLEET_SCHEDULER__INTERVAL_MS": str(DAY_MS),
            **{f"REGIME_FLEET_{k.upper()}": v for k, v in overrides.items()},
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def settings(self) -> FleetSettings:
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def create_topics(self) -> None:
        s = self.settings()
        ensure_topics(s, load_topology(s.partitions))

    def start(self, worker: str, name: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        name = name or worker
        log = (self.root / f"{name}.log").open("ab")
        env = {**self.env, **{f"REGIME_FLEET_{k.upper()}": v for k, v in extra_env.items()}}
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "run", worker],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def start_all(self) -> None:
        for worker in ("ingest", "scheduler", "engine", "publisher"):
            self.start(worker)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        return proc.wait(timeout)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

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
        for name in list(self.procs):
            proc = self.procs.pop(name)
            proc.kill()
            proc.wait(10)
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
