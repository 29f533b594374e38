"""Enricher benchmarks with a 500-tree meta-model: (g) in-process latency of one signal at a
time (market update into features and VPIN, then the signal: features, prediction), and (h)
the enricher worker's throughput on the broker."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import bar_record, signal
from workers.meta_model import model_record, train_booster
from workers.meta_model.calibration import Calibration
from workers.processing import Edges, Record
from workers.runtime.app import build_worker
from workers.runtime.topic_io import produce_values
from workers.state.memory import MemoryStore
from workers.topology import Topology
from workers.trainer.publish import publish_model

from .measure import produce_encoded, wait_for

TREES = 500
T0 = 1_700_000_000_000
MINUTE = 60_000


def meta_model(names: list[str]) -> dict[str, Any]:
    """A 500-tree model fitted on seeded synthetic rows (what it learns does not matter here),
    with a Platt calibration map, as the trainer ships every model."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(5000, len(names)))
    labels = (rows[:, 0] * rows[:, 2] + 0.3 * rows[:, 5] > 0).astype(int)
    booster = train_booster(rows, labels, names, rounds=TREES, max_depth=4)
    calibration = Calibration("platt", a=0.8, b=0.05).to_json()
    return model_record(
        booster,
        name="meta",
        version="bench-500",
        trained_ts_ms=1,
        feature_names=names,
        calibration=calibration,
    )


def in_process_latency(settings: FleetSettings, signals: int = 10_000) -> dict[str, float]:
    """One bar then one signal per step, each signal timed alone (p50/p99 in ms)."""
    core = EnricherProcessor(settings, Edges())
    stores = {name: MemoryStore(codec) for name, codec in core.stores.items()}
    views = _views(stores)
    core.process(Record("models", 0, 0, "meta", meta_model(core.feature_names)), views, 0)
    for name, view in views.items():
        stores[name].commit(view)
    price, spent = 100.0, []
    for i in range(signals):
        price *= math.exp(0.001 * math.sin(i / 7))
        ts = T0 + i * MINUTE
        bar = Record("market.buffer", 0, i, "S", bar_record("S", ts, price, 1000.0 + i % 50, seq=i))
        sig = Record("signals.raw", 0, i, "S", signal("S", ts, seq=i, direction=1 - i % 3))
        views = _views(stores)
        started = time.perf_counter()
        core.process(bar, views, 0)
        core.process(sig, views, 0)
        spent.append(time.perf_counter() - started)
        for name, view in views.items():
            stores[name].commit(view)
    ms = np.array(spent) * 1000
    return {
        "enrich_in_process_signals": signals,
        "enrich_in_process_p50_ms": float(np.percentile(ms, 50)),
        "enrich_in_process_p99_ms": float(np.percentile(ms, 99)),
    }


def _views(stores: dict[str, MemoryStore]) -> dict[str, Any]:
    return {name: store.view() for name, store in stores.items()}


def worker_throughput(settings: FleetSettings, topology: Topology, signals: int = 40_000) -> dict[str, float]:
    """Signals pre-produced for 20 symbols with their bars and the model; the enricher worker
    (in this process) from its first enriched signal to the last."""
    symbols = [f"S{i:02d}" for i in range(20)]
    bars = [
        (s, bar_record(s, T0 + i * MINUTE, 100.0 + i % 7, 1000.0, seq=i), None)
        for s in symbols
        for i in range(200)
    ]
    produce_values(settings, topology, "market.buffer", bars)
    names = EnricherProcessor(settings).feature_names
    publish_model(settings, meta_model(names))
    serde = Serde()
    encoded = []
    for i in range(signals):
        s = symbols[i % len(symbols)]
        value = signal(s, T0 + (i % 200) * MINUTE, seq=i, direction=1 - i % 3, ma_spread=(i % 13) / 100)
        encoded.append((s.encode(), serde.encode("SignalEvent", value)))
    produce_encoded(settings, "signals.raw", encoded)
    worker = build_worker("enricher", settings, topology)
    done: dict[str, float] = {}

    def finish() -> None:
        done["s"] = wait_for(settings, "signals.enriched", settings.partitions, signals, 600, from_first=True)
        worker.stop()

    waiter = threading.Thread(target=finish)
    waiter.start()
    worker.run()
    waiter.join()
    return {"enricher_signals": signals, "enricher_signals_per_s": signals / done["s"]}
