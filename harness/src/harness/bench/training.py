"""The model loop's benchmarks: (i) training on 260,000 seeded bars with 5-fold purged CV
(early-stopped), the final fit, the calibration map and the bootstrap gate, and (j) the
labeler worker's outcomes/s on the broker."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.enricher.samples import bar_record, signal
from workers.labeler.settings import LabelerSettings
from workers.meta_model.training import dataset_from_bars, train
from workers.runtime.app import build_worker
from workers.runtime.topic_io import produce_values
from workers.topology import Topology

from .measure import wait_for

T0 = 1_700_000_000_000
MINUTE = 60_000


def seeded_bars(symbols: int, per_symbol: int, seed: int = 3) -> list[dict[str, Any]]:
    """Random walks whose volatility switches every 500 bars (seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(symbols):
        price, vol = 100.0, 0.01
        steps = rng.normal(0, 1, per_symbol)
        for i in range(per_symbol):
            if i % 500 == 0:
                vol = float(rng.choice([0.005, 0.01, 0.02]))
            price *= math.exp(vol * steps[i])  # libm: the same bits on every CPU
            out.append(bar_record(f"S{s:02d}", T0 + i * MINUTE, price, 1000.0)["event"])
    return out


def training_time(settings: FleetSettings, bars: int = 260_000) -> dict[str, Any]:
    data_bars = seeded_bars(10, bars // 10)
    started = time.perf_counter()
    data = dataset_from_bars(settings, data_bars)
    featured = time.perf_counter()
    result = train(settings, data, version="bench", trained_ts_ms=1)
    done = time.perf_counter()
    return {
        "training_bars": len(data_bars),
        "training_samples": len(data.labels),
        "training_features_s": featured - started,
        "training_cv_and_fit_s": done - featured,
        "training_total_s": done - started,
        "training_cv_auc": result.report["validation"]["auc"],
        "training_rounds": result.report["rounds"],
        "training_verdict": result.record["status"],
        "training_gate": {g["criterion"]: round(g["value"], 4) for g in result.report["gate"]},
        "training_held_out_ece_raw": result.report["calibration"]["raw"]["ece"],
        "training_held_out_ece_calibrated": result.report["calibration"]["calibrated"]["ece"],
        "training_held_out_brier_skill": result.report["calibration"]["calibrated"]["brier_skill"],
    }


def labeler_throughput(settings: FleetSettings, topology: Topology, signals: int = 20_000) -> dict[str, Any]:
    """Enriched signals for 20 symbols, each followed by a bar that resolves it (vertical
    barrier after one observation); the labeler worker in this process, first outcome to last."""
    symbols = [f"S{i:02d}" for i in range(20)]
    enriched, bars = [], []
    per = signals // len(symbols)
    for s in symbols:
        for i in range(per):
            ts = T0 + i * MINUTE
            event = {
                "signal": signal(s, ts + 1, seq=i, direction=1 if i % 2 else -1),
                "meta_confidence": 0.6,
                "toxicity": 0.0,
                "regime": "UNKNOWN",
                "regime_weight": 0.5,
                "model_version": "bench",
                "enriched_at_ms": 0,
                "regime_confidence": 0.0,
                "toxicity_buckets": 0,
                "feature_values": {"vol_20": 0.04},
                "provenance": None,
            }
            enriched.append((s, event, None))
            bars.append((s, bar_record(s, ts + MINUTE, 100.0 + (i % 3), 1000.0, seq=i), None))
    produce_values(settings, topology, "signals.enriched", enriched)
    produce_values(settings, topology, "market.buffer", bars)
    labeler = LabelerSettings.of(settings)
    resolve_at_once = labeler.barriers.model_copy(update={"max_hold": 1})
    # Bars may arrive before their signals: keep every one of a symbol's bars for them.
    changes = {"barriers": resolve_at_once, "history": per + 10}
    quick = settings.model_copy(update={"labeler": labeler.model_copy(update=changes)})
    worker = build_worker("labeler", quick, topology)
    done: dict[str, float] = {}

    def finish() -> None:
        done["s"] = wait_for(
            settings, "signals.outcomes", settings.partitions, len(enriched), 600, from_first=True
        )
        worker.stop()

    waiter = threading.Thread(target=finish)
    waiter.start()
    worker.run()
    waiter.join()
    return {"labeler_outcomes": len(enriched), "labeler_outcomes_per_s": len(enriched) / done["s"]}
