from __future__ import annotations

import pytest

from workers import topics
from workers.config import ConfigError, load_settings, settings_class
from workers.engine.settings import EngineSettings
from workers.ingest.settings import IngestSettings
from workers.runtime.fleet_config import differences
from workers.scheduler.settings import SchedulerSettings
from workers.section import SectionError
from workers.topology import load_topology, validate


def test_env_nested_keys_and_prefix(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_SCHEDULER__INTERVAL_MS", "5000")
    monkeypatch.setenv("REGIME_FLEET_TOPIC_PREFIX", "x.")
    s = load_settings()
    assert SchedulerSettings.of(s).interval_ms == 5000
    assert s.topic("market.raw") == "x.market.raw" and s.group("engine") == "x.regime-fleet.engine"


def test_yaml_file_then_env_overrides(tmp_path, monkeypatch):
    path = tmp_path / "fleet.yaml"
    path.write_text("scheduler:\n  interval_ms: 7000\n  mode: timer\n")
    monkeypatch.setenv("REGIME_FLEET_SCHEDULER__INTERVAL_MS", "9000")
    s = load_settings(path)
    assert (SchedulerSettings.of(s).mode, SchedulerSettings.of(s).interval_ms) == ("timer", 9000)


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
    assert t.order() == ["ingest", "scheduler", "engine", "publisher", "enricher", "labeler"]
    assert t.upstream("regime.events") == ["ingest", "scheduler", "engine", "publisher"]
    single = {topics.CONFIG, "fleet.control", "fleet.heartbeats"}  # fleet-wide, not per symbol
    pipeline = {name: spec for name, spec in t.topics.items() if name not in single}
    assert all(spec.partitions == 3 for spec in pipeline.values())
    assert all(t.topics[name].partitions == 1 for name in single)


def test_every_topic_constant_is_declared_in_the_topology():
    declared = set(load_topology(1).topics)
    constants = {v for k, v in vars(topics).items() if k.isupper()}
    assert constants <= declared, constants - declared


def test_worker_policies_come_from_the_topology():
    t = load_topology(1)
    assert t.worker("ingest").dead_letter == "market.raw.dlq" and t.worker("ingest").degrade_on_failure
    assert (
        t.worker("engine").unit_timeout is not None and t.worker("engine").unit_timeout.on_timeout == "fail"
    )
    assert (
        t.worker("scheduler").backpressure is not None
        and t.worker("scheduler").backpressure.group == "publisher"
    )
    # Only ingest, whose input comes from producers outside the fleet, batches its fetches.
    assert {w: s.fetch_min_bytes for w, s in t.workers.items() if s.fetch_min_bytes != 1} == {"ingest": 65536}
    assert t.downstream("engine.runs") == ["engine", "publisher", "enricher", "labeler"]
    assert t.downstream("market.raw") == ["ingest", "scheduler", "engine", "publisher", "enricher", "labeler"]


def test_validate_checks_policies():
    raw = {
        "topics": {
            "a": {"partitions": 1, "cleanup_policy": "delete"},
            "b": {"partitions": 1, "cleanup_policy": "delete"},
        },
        "workers": {
            "x": {
                "inputs": ["a"],
                "outputs": ["b"],
                "dead_letter": "a",
                "retry": {"checkpoint": "nope"},
                "backpressure": {"group": "x", "topic": "b", "limit": "engine.nope"},
                "unit_timeout": {"limit": "engine.run_timeout_ms", "on_timeout": "explode"},
                "fetch_min_bytes": 0,
            }
        },
    }
    codes = [e.code for e in validate(raw)]
    assert codes.count("BAD_BACKPRESSURE") == 2
    assert {"BAD_DEAD_LETTER", "BAD_RETRY", "BAD_TIMEOUT", "BAD_FETCH"} <= set(codes)
    for bad in ("64k", 1.5, True, 2 << 20):
        raw["workers"]["x"]["fetch_min_bytes"] = bad
        assert "BAD_FETCH" in [e.code for e in validate(raw)], bad


def test_unknown_retry_domains_are_a_configuration_error(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_RETRY__INGEST__MAX_ATTEMPTS", "2")
    with pytest.raises(ConfigError, match="unknown retry domain"):
        load_settings()


def test_recorded_output_config_wins_except_for_explicit_keys(monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_ENGINE__TREND_THRESHOLD", "0.1")
    current = load_settings()
    recorded = {**current.output_config(), "scheduler": {"mode": "boundary", "interval_ms": 86_400_000}}
    recorded["engine"] = {**recorded["engine"], "trend_threshold": 0.5, "progress_required": 2}
    effective = current.with_output_config(recorded, keep=frozenset(current.explicit_output_keys()))
    assert SchedulerSettings.of(effective).interval_ms == 86_400_000
    assert EngineSettings.of(effective).progress_required == 2
    assert EngineSettings.of(effective).trend_threshold == 0.1
    assert differences(recorded, effective.output_config()) == {"engine.trend_threshold": [0.5, 0.1]}


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


def test_sections_come_from_the_topology_workers_and_services():
    t = load_topology(1)
    assert set(t.services) == {"api", "trainer", "nautilus"} and t.services["api"].package == "workers.api"
    assert t.worker("engine").package == "workers.engine"
    fields = set(type(load_settings()).model_fields)
    # Every worker and service with a settings module has its section; the publisher has none.
    assert {"ingest", "scheduler", "engine", "enricher", "labeler", "api", "trainer"} <= fields
    assert "publisher" not in fields


def test_a_section_reads_env_and_file_and_rejects_unknown_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("REGIME_FLEET_ENGINE__MODE", "hysteresis")
    assert EngineSettings.of(load_settings()).mode == "hysteresis"
    path = tmp_path / "fleet.yaml"
    path.write_text("publisher: {chain: 1}\n")
    with pytest.raises(ConfigError, match="publisher"):
        load_settings(path)
    with pytest.raises(ConfigError, match="nope"):
        load_settings(nope=1)


def test_a_section_the_settings_lack_says_so():
    only_engine = settings_class({"engine": "workers.engine"})()
    assert EngineSettings.of(only_engine).mode == "truth"
    with pytest.raises(SectionError, match="IngestSettings"):
        IngestSettings.of(only_engine)
    assert "ingest" not in only_engine.output_config()


def test_validate_checks_packages_and_service_names():
    raw = {
        "topics": {"a": {"partitions": 1, "cleanup_policy": "delete"}},
        "workers": {
            "x": {"inputs": ["a"], "outputs": ["a"], "dead_letter": "a", "package": "no_such_package_here"},
            "y": {"inputs": ["a"], "outputs": ["a"], "dead_letter": "a", "package": "workers.api"},
        },
        "services": {"x": {}, "api": {"package": "workers.engine"}},
    }
    errors = {(e.code, e.where) for e in validate(raw)}
    assert ("BAD_PACKAGE", "workers.x.package") in errors
    assert ("BAD_PACKAGE", "workers.y") in errors  # the api has no processor module
    assert ("BAD_PACKAGE", "services.api") in errors  # the engine has no app module
    assert ("DUPLICATE_NAME", "services.x") in errors
