"""Replay of recorded runs, provenance chains, and fleet-to-fleet determinism on a real broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from harness.demo.data import index_events
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS
from workers import clients
from workers.contracts import Serde
from workers.contracts.identity import NON_AUTHORITATIVE_FIELDS
from workers.contracts.json_form import dumps

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "workers.cli.main"]
# Identifiers derived from the fleet's own market.buffer offsets, which include its
# transaction markers: deterministic within a fleet, different between two fleets.
FLEET_LOCAL = ("run_id", "event_id", "cut_start_ingest_seq", "cut_end_ingest_seq", "provenance")


def _events(days=60):
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=days, window=20)]


def _run_fleet(fleet, events, mode="hysteresis"):
    fleet.start_all()
    fleet.produce("market.raw", events)
    runs = sum(len(v) for v in expected_runs(events, DAY_MS).values())
    per_run = 3 if mode == "hysteresis" else 2
    records = fleet.consume("regime.events", per_run * runs, timeout=120)
    assert len(records) == per_run * runs
    return records


def _cli(fleet, *args, env=None):
    return subprocess.run(
        [*CLI, *args], env={**fleet.env, **(env or {})}, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def recorded(fleet_factory):
    fleet = fleet_factory(engine__mode="hysteresis", engine__progress_required="2")
    records = _run_fleet(fleet, _events())
    for name in list(fleet.procs):
        fleet.stop(name)
    return fleet, records


def test_replay_of_recorded_runs_matches_and_a_changed_parameter_diverges(recorded):
    fleet, records = recorded
    done = _cli(fleet, "replay", "--topic", "engine.runs")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["match"] and report["matched"] == len(records) and report["mismatched"] == 0

    changed = _cli(
        fleet, "replay", "--topic", "engine.runs", env={"REGIME_FLEET_ENGINE__TREND_THRESHOLD": "0.1"}
    )
    assert changed.returncode == 1, changed.stderr
    first = json.loads(changed.stdout)["first_divergence"]
    assert any(path.startswith("regime_output") for path in first["fields"])
    # The first divergence is the earliest run (per symbol, by engine time) whose regime changed.
    sym_events = sorted(
        (r["value"] for r in records if r["value"]["symbol"] == first["symbol"]),
        key=lambda v: v["engine_timestamp_ms"],
    )
    assert first["engine_timestamp_ms"] >= sym_events[0]["engine_timestamp_ms"]

    window = _cli(
        fleet,
        "replay",
        "--topic",
        "engine.runs",
        "--symbol",
        "SPX",
        "--from",
        str(sym_events[len(sym_events) // 2]["engine_timestamp_ms"]),
    )
    assert window.returncode == 0, window.stdout + window.stderr


def test_provenance_verify_passes_and_catches_a_tampered_record(recorded):
    fleet, records = recorded
    ok = _cli(fleet, "provenance", "verify")
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["events"] == len(records)

    run_id = records[0]["value"]["run_id"]
    shown = json.loads(_cli(fleet, "provenance", "show", run_id).stdout)
    assert shown["input_hash_matches"] and shown["inputs"] and len(shown["chain"]) == 3

    tampered = dict(records[-1]["value"])
    tampered["regime_output"] = {
        **tampered["regime_output"],
        "regime": "RANGE" if tampered["regime_output"]["regime"] != "RANGE" else "TREND_UP",
    }
    s = fleet.settings()
    producer = Producer(clients.producer_config(s, None))
    producer.produce(
        s.topic("regime.events"),
        Serde().encode("OrchestratorEvent", tampered),
        tampered["symbol"].encode(),
        partition=records[-1]["partition"],
    )
    producer.flush(10)
    bad = _cli(fleet, "provenance", "verify")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_break"]["run_id"] == tampered["run_id"]


def test_replay_fails_clearly_when_retention_deleted_its_inputs(recorded):
    fleet, _ = recorded
    s = fleet.settings()
    admin = AdminClient(clients.base_config(s))
    topic = s.topic("market.buffer")
    futures = admin.delete_records([TopicPartition(topic, p, -1) for p in range(2)])
    for f in futures.values():
        f.result(30)
    done = _cli(fleet, "replay", "--topic", "engine.runs")
    assert done.returncode == 2
    assert "retention already deleted" in done.stderr and "market.buffer[" in done.stderr


def test_unknown_or_empty_topic_is_a_clear_error(fleet_factory):
    fleet = fleet_factory()
    empty = _cli(fleet, "replay", "--topic", "engine.runs")
    assert empty.returncode == 2 and "is empty" in empty.stderr
    unknown = _cli(fleet, "replay", "--topic", "nope")
    assert unknown.returncode == 2


def test_two_independent_fleets_publish_identical_authoritative_output(fleet_factory):
    events = _events(days=40)
    outputs = []
    for _ in range(2):
        fleet = fleet_factory(engine__mode="hysteresis", engine__progress_required="2")
        records = _run_fleet(fleet, events)
        projected = sorted(
            dumps(
                {
                    k: v
                    for k, v in r["value"].items()
                    if k not in NON_AUTHORITATIVE_FIELDS and k not in FLEET_LOCAL
                }
                | {"input_hash": r["value"]["provenance"]["input_hash"]}
            )
            for r in records
        )
        outputs.append("\n".join(projected).encode())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("topic", ["market.buffer", "market.raw"])
def test_pipeline_replay_from_buffer_or_raw_matches(recorded, topic):
    fleet, records = recorded
    done = _cli(fleet, "replay", "--topic", topic)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["matched"] == len(records) and report["extra"] == 0
    changed = _cli(fleet, "replay", "--topic", topic, env={"REGIME_FLEET_ENGINE__PROGRESS_REQUIRED": "4"})
    assert changed.returncode == 1
