"""The demo's first meta-model: trained at start-up from the shipped index bars with the
trainer's own code (primary signals, the enricher's features, triple-barrier labels, purged
walk-forward CV), and published mid-demo so the enricher swaps it in live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workers.config import FleetSettings
from workers.meta_model.training import dataset_from_bars, train
from workers.trainer.report import write_report
from workers.trainer.settings import TrainerSettings


def train_demo_model(
    settings: FleetSettings, bars: list[dict[str, Any]], fast: int, slow: int
) -> tuple[dict[str, Any], Path]:
    """(a live ModelRecord "demo-1" for the demo strategy's fast/slow crossover, the report PNG)."""
    update = {"rounds": 100, "max_depth": 3, "auc_floor": 0.0, "fast": fast, "slow": slow}
    demo = settings.model_copy(update={"trainer": TrainerSettings.of(settings).model_copy(update=update)})
    data = dataset_from_bars(demo, bars, provenance={"source": "demo bars (arch S&P 500, NASDAQ; seeded)"})
    result = train(demo, data, version="demo-1", trained_ts_ms=int(time.time() * 1000))
    png = write_report(result, Path(TrainerSettings.of(settings).report_dir) / "demo-1")
    return result.record, png
