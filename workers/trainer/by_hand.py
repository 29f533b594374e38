"""`regime-fleet train`'s job: train once on a chosen source, write the report, optionally
publish (live, or under a key of its own when the gate rejects it); the CLI parses and prints."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.config import FleetSettings
from workers.meta_model.training import Dataset, train
from workers.trainer import data
from workers.trainer.publish import publication_key, publish_model
from workers.trainer.report import write_report
from workers.trainer.service import active_model
from workers.trainer.settings import TrainerSettings


def train_once(
    settings: FleetSettings,
    source: str,
    *,
    version: str,
    from_offset: int | None = None,
    to_offset: int | None = None,
    publish: bool = False,
    say: Callable[[str], None],
    progress: Callable[[str, int, int], None],
) -> dict[str, Any]:
    """Train on `source` (outcomes, market.buffer, or a file of bars), gated against the active
    model when publishing; the summary. TrainingError or TopicError when it cannot."""
    say(f"reading training data ({source})...")
    dataset = dataset_of(settings, source, from_offset, to_offset)
    say(f"{len(dataset.labels)} labelled signals; training...")
    active = active_model(settings) if publish else None
    result = train(
        settings,
        dataset,
        version=version,
        trained_ts_ms=int(time.time() * 1000),
        active=active,
        progress=progress,
    )
    png = write_report(result, Path(TrainerSettings.of(settings).report_dir) / version)
    summary: dict[str, Any] = {
        "model_version": version,
        "status": result.record["status"],
        "rejected_because": result.report["rejected_because"],
        "gate": result.report["gate"],
        "held_out_calibrated": {
            k: result.report["calibration"]["calibrated"][k]
            for k in ("ece", "brier", "brier_skill", "accuracy")
        },
        "validation": result.report["validation"],
        "rounds": result.report["rounds"],
        "samples": result.record["training_samples"],
        "report": str(png),
    }
    if publish:
        key = publication_key(result.record, version)
        summary["published_to_partitions"] = len(publish_model(settings, result.record, key=key))
    return summary


def dataset_of(
    settings: FleetSettings, source: str, from_offset: int | None = None, to_offset: int | None = None
) -> Dataset:
    """Labelled signals from `source`: outcomes, market.buffer (an offset range) or a file of bars."""
    if source == "outcomes":
        return data.from_outcomes(settings)
    if source == "market.buffer":
        return data.from_buffer(settings, from_offset, to_offset)
    return data.from_file(settings, Path(source))
