"""Metrics lint against docs/metrics.md, required log fields, and no secret anywhere."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.fleet import http_get
from workers.topology import load_topology

pytestmark = pytest.mark.integration
WORKERS = tuple(load_topology(1).order())
SECRETS = {
    "kafka__sasl_password": "pw-Zq81-secret",
    "kafka__ssl_key_password": "key-Hh27-secret",
    "kafka__schema_registry_basic_auth": "user:reg-Kk55-secret",
}


def _documented() -> dict[str, tuple[str, frozenset[str]]]:
    rows = {}
    for line in (Path(__file__).parents[2] / "docs" / "metrics.md").read_text().splitlines():
        m = re.match(r"\| `(regime_fleet_\w+)` \| (\w+) \| ([^|]*) \|", line)
        if m:
            labels = (
                frozenset()
                if m.group(3).strip() == "-"
                else frozenset(x.strip() for x in m.group(3).split(","))
            )
            rows[m.group(1)] = (m.group(2), labels)
    return rows


def test_metrics_logs_and_secrets(fleet_factory):
    fleet = fleet_factory(engine__mode="hysteresis", **SECRETS)
    ports = {w: free_port() for w in WORKERS}
    for w in WORKERS:
        fleet.start(w, runtime__http_port=str(ports[w]))
    events = [e for s in ("SPX", "NDX") for e in index_events(s, days=15, window=20)]
    fleet.produce("market.raw", events)
    assert fleet.consume("regime.events", 3 * 2 * 14, timeout=90)
    time.sleep(1.5)

    documented = _documented()
    scraped: dict[str, tuple[str, frozenset[str]]] = {}
    for w in WORKERS:
        for family in text_string_to_metric_families(http_get(ports[w], "/metrics")[1]):
            if not family.name.startswith("regime_fleet_"):
                continue
            labels = frozenset(k for s in family.samples for k in s.labels if k not in ("le", "quantile"))
            scraped[family.name] = (family.type, labels | scraped.get(family.name, ("", frozenset()))[1])
    undocumented = set(scraped) - set(documented)
    assert not undocumented, f"metrics missing from docs/metrics.md: {undocumented}"
    for name, (kind, labels) in scraped.items():
        assert documented[name][0] == kind, f"{name}: type {kind}, documented {documented[name][0]}"
        assert labels <= documented[name][1], f"{name}: labels {labels}, documented {documented[name][1]}"
    for must in (
        "regime_fleet_engine_runs",
        "regime_fleet_published_events",
        "regime_fleet_records_consumed",
        "regime_fleet_lifecycle_state",
        "regime_fleet_consumer_lag",
    ):
        assert must in scraped, must

    statuses = {w: json.loads(http_get(ports[w], "/status")[1]) for w in WORKERS}
    assert all(s["lifecycle"] == "running" and s["ready"] for s in statuses.values())
    for w in WORKERS:
        assert fleet.stop(w) == 0

    for w in WORKERS:
        text = fleet.log(w)
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert lines, f"{w} wrote no JSON logs"
        for line in lines:
            assert {"timestamp", "level", "event", "worker", "group_id"} <= set(line), line
        events_seen = {line["event"] for line in lines}
        assert {"worker_running", "partitions_assigned", "worker_drained", "worker_stopped"} <= events_seen
        assert all("lifecycle" in line for line in lines if line["event"].startswith("worker_"))
        blob = text + json.dumps(statuses[w])
        for secret in SECRETS.values():
            assert secret not in blob and secret.split(":")[-1] not in blob, f"{w} leaked a secret"
