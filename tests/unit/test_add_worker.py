"""The recipe of docs/architecture.md ("Adding a worker"), followed from a temporary folder: a
package with a core and a settings section, one topology entry, and nothing else touched."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from workers.cli.main import main
from workers.config import load_settings
from workers.enricher.samples import bar_record
from workers.processing.driver import Driver
from workers.topology import load_topology, read_topology, validate

PACKAGE = "rf_recipe_volume_alert"  # unique: it lives in sys.modules only during the test

SETTINGS = '''
"""The volume alert's settings section (`volume_alert:`)."""

from typing import Annotated

from pydantic import Field

from workers.section import RUNTIME_ONLY, Section


class VolumeAlertSettings(Section):
    threshold: float = Field(1000.0, gt=0, description="Bars with at least this volume alert.")
    timeout_ms: Annotated[int, RUNTIME_ONLY] = Field(1000, ge=1)
'''

PROCESSOR = '''
"""Bars whose volume reaches the threshold, as JSON alerts keyed by symbol."""

import json
from collections.abc import Mapping

from workers.config import FleetSettings
from workers.processing import Output, ProcessorBase, Record, Edges, StateStore

from rf_recipe_volume_alert.settings import VolumeAlertSettings


class VolumeAlertProcessor(ProcessorBase):
    name = "volume_alert"

    def __init__(self, settings: VolumeAlertSettings) -> None:
        self.threshold = settings.threshold

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        event = record.value["event"]
        bar = event.get("bar")
        if bar is None or bar["volume"] < self.threshold:
            return []
        alert = {"symbol": event["symbol"], "event_ts_ms": event["event_ts_ms"], "volume": bar["volume"]}
        return [Output("volume.alerts", event["symbol"], json.dumps(alert).encode())]


def create(settings: FleetSettings, edges: Edges) -> VolumeAlertProcessor:
    return VolumeAlertProcessor(VolumeAlertSettings.of(settings))
'''

ENTRY = {
    "package": PACKAGE,
    "inputs": ["market.buffer"],
    "outputs": ["volume.alerts", "fleet.dlq"],
    "dead_letter": "fleet.dlq",
    "unit_timeout": {"limit": "volume_alert.timeout_ms", "on_timeout": "dead_letter"},
}
TOPIC = {
    "partitions": "pipeline",
    "cleanup_policy": "delete",
    "retention_ms": 604800000,
    "value_schema": None,
}


@pytest.fixture
def topology(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Steps 1-3 in tmp_path: the package (core, settings) and a copy of fleet.yaml with its entry."""
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text('"""A worker outside workers/."""\n')
    (package / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (package / "processor.py").write_text(textwrap.dedent(PROCESSOR))
    raw = read_topology()
    raw["topics"]["volume.alerts"] = TOPIC
    raw["workers"]["volume_alert"] = ENTRY
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_the_new_worker_validates(topology: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(read_topology(topology)) == []
    assert main(["topology", "validate", "--file", str(topology)]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "file": str(topology)}
    spec = load_topology(3, topology).worker("volume_alert")
    assert spec.package == PACKAGE and spec.unit_timeout is not None


def test_a_typo_in_its_setting_or_package_is_reported(topology: Path) -> None:
    raw = read_topology(topology)
    raw["workers"]["volume_alert"]["unit_timeout"]["limit"] = "volume_alert.timeout"
    raw["workers"]["volume_alert"]["package"] = f"{PACKAGE}_typo"
    codes = {(e.code, e.where) for e in validate(raw)}
    assert codes == {
        ("BAD_TIMEOUT", "workers.volume_alert.unit_timeout.limit"),
        ("BAD_PACKAGE", "workers.volume_alert.package"),
    }


def test_its_settings_join_the_fleet_settings(topology: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIME_FLEET_VOLUME_ALERT__THRESHOLD", "250")
    settings = load_settings(topology=topology, partitions=1)
    section = type(settings).sections["volume_alert"]
    assert section.of(settings).threshold == 250.0
    # Recorded on fleet.config like any section, without its runtime-only timeout.
    assert settings.output_config()["volume_alert"] == {"threshold": 250.0}
    assert settings.output_config()["engine"] == load_settings(partitions=1).output_config()["engine"]


def test_its_core_runs_on_the_driver(topology: Path) -> None:
    settings = load_settings(topology=topology, partitions=1, volume_alert={"threshold": 500})
    driver = Driver.for_fleet(settings, load_topology(1, topology), ["volume_alert"])
    for seq, volume in enumerate([100.0, 800.0, 499.0, 500.0]):
        driver.feed("market.buffer", "SPX", bar_record("SPX", 60_000 * seq, 10.0, volume, seq), partition=0)
    alerts = [json.loads(bytes(logged.value)) for logged in driver.received("volume.alerts")]
    assert [(a["event_ts_ms"], a["volume"]) for a in alerts] == [(60_000, 800.0), (180_000, 500.0)]
    assert all(logged.key == "SPX" for logged in driver.received("volume.alerts"))


def test_a_service_runs_through_its_own_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`regime-fleet run <service>`: the topology's `services` entry, `build` in <package>.app."""
    package = tmp_path / f"{PACKAGE}_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "class Service:\n    def run(self) -> int:\n        return 7\n\n\n"
        "def build(settings, topology):\n    return Service()\n"
    )
    raw = read_topology()
    raw["services"]["recipe"] = {"package": f"{PACKAGE}_service"}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.syspath_prepend(str(tmp_path))
    from workers.runtime.app import build

    try:
        assert validate(read_topology(path)) == []
        assert build("recipe", load_settings(topology=path), load_topology(1, path)).run() == 7
    finally:
        sys.modules.pop(f"{PACKAGE}_service", None)
        sys.modules.pop(f"{PACKAGE}_service.app", None)
