"""Putting a meta-model on the `models` topic: once per partition, under the key that keeps the
live model live, and a rollback to an earlier trained version's booster.

A model goes to every partition of `models` (compacted, keyed by model name): each enricher
instance reads only its own partitions, and each swaps in the model between two records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workers.config import FleetSettings
from workers.enricher.settings import EnricherSettings
from workers.meta_model import model_record
from workers.runtime.topic_io import produce_values
from workers.topics import MODELS
from workers.topology import load_topology
from workers.trainer.settings import TrainerSettings


class NoBooster(LookupError):
    """No trained booster for that version under trainer.report_dir: nothing to roll back to."""


def publish_model(
    settings: FleetSettings, record: dict[str, Any], key: str | None = None
) -> list[tuple[int, int]]:
    """The ModelRecord, once per partition of `models` (keyed by its model name unless `key`
    says otherwise: rejected candidates get a key of their own, so compaction keeps the live
    model); (partition, offset) of each copy."""
    topology = load_topology(settings.partitions)
    partitions = range(topology.topics[MODELS].partitions)
    key = key or record["model_name"]
    return produce_values(settings, topology, MODELS, [(key, record, p) for p in partitions])


def publication_key(record: dict[str, Any], version: str) -> str:
    """The model name for a live model; a key of its own for a candidate the gate rejected."""
    name = str(record["model_name"])
    return name if record["status"] == "live" else f"{name}:rejected:{version}"


def enricher_features(settings: FleetSettings) -> list[str]:
    """The feature names the enricher computes with these settings (a model must expect them)."""
    from workers.enricher.processor import EnricherProcessor

    return EnricherProcessor(settings).feature_names


def rollback_record(settings: FleetSettings, version: str) -> dict[str, Any]:
    """An earlier version's booster (trainer.report_dir/<version>/model.ubj), with its calibration
    map and feature distribution, as the newest live ModelRecord: the enricher swaps back to it
    like to any newer model."""
    path = Path(TrainerSettings.of(settings).report_dir) / version / "model.ubj"
    if not path.exists():
        raise NoBooster(f"no booster at {path}")

    def beside(name: str) -> str:  # older versions have no such file: no map, no drift check
        return (path.parent / name).read_text() if (path.parent / name).exists() else ""

    return model_record(
        path.read_bytes(),
        name=EnricherSettings.of(settings).model_name,
        version=version,
        trained_ts_ms=int(time.time() * 1000),
        feature_names=enricher_features(settings),
        calibration=beside("calibration.json"),
        feature_distribution=beside("feature_distribution.json"),
    )
