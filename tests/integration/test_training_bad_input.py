"""Bad input to the model loop: a malformed or premature trigger, a training file with NaNs or
too few rows, an empty topic range: a clear error, nothing published, nothing crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from harness.launcher import free_port
from tests.integration.fleet import Fleet, worker_status
from workers import clients
from workers.runtime.topic_io import produce_values
from workers.topology import load_topology

pytestmark = pytest.mark.integration


def cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def bars_file(path: Path, count: int, bad_at: int | None = None) -> Path:
    with path.open("w") as f:
        for i in range(count):
            close = float("nan") if i == bad_at else 100.0 + (i % 7)
            bar = {
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": 1.0,
                "interval_ms": 60000,
            }
            f.write(
                json.dumps(
                    {
                        "event_id": f"e{i}",
                        "symbol": "S",
                        "event_ts_ms": 1_700_000_000_000 + i * 60000,
                        "kind": "BAR",
                        "bar": bar,
                    }
                )
                + "\n"
            )
    return path


def test_the_trainer_survives_malformed_and_premature_triggers(fleet_factory: Any, tmp_path: Path) -> None:
    fleet: Fleet = fleet_factory(trainer__report_dir=str(tmp_path / "models"))
    port = free_port()
    proc = fleet.start("trainer", runtime__http_port=str(port))
    s = fleet.settings()
    raw = Producer(clients.producer_config(s, None))
    raw.produce(s.topic("models.retrain"), b"\x00 not a trigger", b"none")
    raw.flush(10)
    trigger = {
        "trigger_id": "t1",
        "reason": "outcomes",
        "rolling_accuracy": 0.4,
        "threshold": 0.5,
        "samples": 10,
        "model_version": "none",
        "triggered_ts_ms": 1,
    }
    produce_values(s, load_topology(s.partitions), "models.retrain", [("none", trigger, None)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "training_skipped" not in fleet.log("trainer"):
        time.sleep(0.5)
    log = fleet.log("trainer")
    assert "trigger_undecodable" in log and "holds no outcomes yet" in log, log[-2000:]
    assert proc.poll() is None and worker_status(port)["ready"]
    assert fleet.consume("models", 1, timeout=3) == []  # nothing published


def test_training_by_hand_refuses_bad_data_with_a_message(fleet_factory: Any, tmp_path: Path) -> None:
    fleet: Fleet = fleet_factory(trainer__report_dir=str(tmp_path / "models"))
    few = cli(fleet, "train", "--source", str(bars_file(tmp_path / "few.jsonl", 500)), "--publish")
    assert few.returncode == 1 and "500 bars; training needs at least 1000" in few.stderr
    nan = cli(
        fleet, "train", "--source", str(bars_file(tmp_path / "nan.jsonl", 1500, bad_at=10)), "--publish"
    )
    assert nan.returncode == 1 and "NaN" in nan.stderr
    empty = cli(
        fleet, "train", "--source", "market.buffer", "--from-offset", "0", "--to-offset", "10", "--publish"
    )
    assert empty.returncode == 1 and "no bars in" in empty.stderr
    missing = cli(fleet, "train", "--source", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert fleet.consume("models", 1, timeout=3) == []
