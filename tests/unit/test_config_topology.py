from __future__ import annotations

import pytest

from workers.config import ConfigError, load_settings
from workers.topology import load_topology, validate


def test_env_nested_keys_and_prefix(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_SCHEDULER__INTERVAL_MS", "5000")
    monkeypatch.setenv("REGIME_FLEET_TOPIC_PREFIX", "x.")
    s = load_settings()
    assert s.scheduler.interval_ms == 5000
    assert s.topic("market.raw") == "x.market.raw" and s.group("engine") == "x.regime-fleet.engine"


def test_yaml_file_then_env_overrides(tmp_path, monkeypatch):
    path = tmp_path / "fleet.yaml"
    path.write_text("scheduler:\n  interval_ms: 7000\n  mode: timer\n")
    monkeypatch.setenv("REGIME_FLEET_SCHEDULER__INTERVAL_MS", "9000")
    s = load_settings(path)
    assert (s.scheduler.mode, s.scheduler.interval_ms) == ("timer", 9000)


def test_invalid_config_names_the_key(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_RUNTIME__BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match=r"runtime\.batch_size"):
        load_settings()


def test_secrets_never_printed(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_KAFKA__SASL_PASSWORD", "hunter2")
    s = load_settings()
    assert "hunter2" not in str(s.redacted()) and "hunter2" not in repr(s)
    assert s.kafka.client_config()["sasl.password"] == "hunter2"


def test_fleet_topology_is_valid_and_ordered():
    t = load_topology(3)
    assert t.order() == ["ingest", "scheduler", "engine", "publisher"]
    assert all(spec.partitions == 3 for spec in t.topics.values())


def test_validate_reports_unknown_topics_cycles_and_bad_changelogs():
    raw = {
        "topics": {
            "a": {"partitions": 1, "cleanup_policy": "delete"},
            "b": {"partitions": 1, "cleanup_policy": "delete"},
        },
        "workers": {
            "x": {"inputs": ["a"], "outputs": ["b"], "stores": {"s": "b"}},
            "y": {"inputs": ["b"], "outputs": ["a", "nope"]},
        },
    }
    codes = {e.code for e in validate(raw)}
    assert {"UNKNOWN_TOPIC", "CYCLE", "CHANGELOG_NOT_COMPACTED"} <= codes
