"""Which configuration a replay runs with: by default the one the live fleet recorded on
fleet.config, except for keys the caller set explicitly (environment, --config file); those
win and are reported as differences, so a divergence caused by configuration is named as such."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from workers.config import FleetSettings
from workers.runtime.fleet_config import differences, recorded_configs

Source = Literal["recorded", "current"]


@dataclass
class ReplayConfig:
    settings: FleetSettings
    source: str  # "recorded" | "current" | "current (nothing recorded)"
    differs: dict[str, list[Any]] = field(default_factory=dict)  # key -> [recorded, replay]
    disagreeing_workers: dict[str, list[Any]] = field(default_factory=dict)


def merged(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One output config from the workers' records: each section from the worker it is named
    after (engine settings as the engine ran them), the rest from any worker."""
    out: dict[str, Any] = {}
    for record in records.values():
        for key, value in record.get("config", {}).items():
            out.setdefault(key, value)
    for worker, record in records.items():
        if worker in record.get("config", {}):
            out[worker] = record["config"][worker]
    return out


def replay_config(settings: FleetSettings, source: Source = "recorded") -> ReplayConfig:
    records = recorded_configs(settings)
    if not records:
        return ReplayConfig(settings, "current (nothing recorded on fleet.config)")
    recorded = merged(records)
    disagree: dict[str, list[Any]] = {}
    for record in records.values():
        for key, pair in differences(recorded, record.get("config", {})).items():
            disagree.setdefault(key, pair)
    if source == "current":
        return ReplayConfig(settings, "current", differences(recorded, settings.output_config()), disagree)
    effective = settings.with_output_config(recorded, keep=frozenset(settings.explicit_output_keys()))
    return ReplayConfig(effective, "recorded", differences(recorded, effective.output_config()), disagree)
