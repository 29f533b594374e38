"""The demo's meta-model: trained on the reference strategy's own history, then published
mid-demo so the enricher swaps it in live.

Features come from the enricher's core itself (in memory, over the same bars and signals), so
they are exactly what the live enricher computes. A signal is labelled right (1) when the close
`horizon` bars after it has moved in the signal's direction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.meta_model import load, model_record, train_booster
from workers.processing.driver import Driver
from workers.topology import load_topology


def train_demo_model(
    settings: FleetSettings, bars: list[dict[str, Any]], signals: list[dict[str, Any]], horizon: int = 5
) -> dict[str, Any]:
    """A ModelRecord (version demo-1) fitted on the signals that have a known outcome; its
    accuracy is in-sample (the trainer, not the demo, validates walk-forward)."""
    driver = Driver.for_fleet(settings, load_topology(1), ["enricher"])
    names = driver.processors["enricher"].feature_names  # type: ignore[attr-defined]
    closes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for bar in bars:
        closes[bar["symbol"]].append((bar["event_ts_ms"], bar["bar"]["close"]))
    merged = sorted(
        [(b["event_ts_ms"], 0, b) for b in bars] + [(s["signal_ts_ms"], 1, s) for s in signals],
        key=lambda item: (item[0], item[1]),
    )
    for _, kind, value in merged:
        if kind == 0:
            driver.feed("market.buffer", value["symbol"], _buffered(value), partition=0)
        else:
            driver.feed("signals.raw", value["symbol"], value, partition=0)
    rows, labels = [], []
    for enriched in driver.received("signals.enriched"):
        event = enriched.value
        assert isinstance(event, dict)
        signal = event["signal"]
        later = [c for ts, c in closes[signal["symbol"]] if ts > signal["signal_ts_ms"]]
        if len(later) < horizon:
            continue
        moved = later[horizon - 1] - signal["price"]
        rows.append([event["feature_values"].get(n, np.nan) for n in names])
        labels.append(1 if moved * signal["direction"] > 0 else 0)
    features, target = np.asarray(rows, dtype=float), np.asarray(labels)
    booster = train_booster(features, target, names, rounds=100, max_depth=3, seed=1)
    scores = load(booster, version="demo-1", feature_names=names, trained_ts_ms=0).predict_many(rows)
    accuracy = float(np.mean([(p > 0.5) == bool(y) for p, y in zip(scores, labels, strict=True)]))
    return model_record(
        booster,
        name=settings.enricher.model_name,
        version="demo-1",
        trained_ts_ms=int(time.time() * 1000),
        feature_names=names,
        accuracy=accuracy,
        training_samples=len(target),
    )


def _buffered(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "source_topic": "market.raw",
        "source_partition": 0,
        "source_offset": 0,
        "ingest_ts_ms": 0,
        "correlation_id": "",
    }
