"""Enricher benchmarks with a 500-tree meta-model: (g) in-process latency of one signal at a
time (market update into features and VPIN, then the signal: features, prediction), (h)
the enricher worker's throughput on the broker, and (n) what a challenger scored in shadow
costs, in process."""

from __future__ import annotations

import math
import statistics
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
from workers.processing import Edges, Output, Record
from workers.runtime.app import build_worker
from workers.runtime.observability import Recorder, WorkerMetrics
from workers.runtime.topic_io import produce_values
from workers.state.memory import MemoryStore
from workers.topology import Topology, load_topology
from workers.trainer.publish import publish_model

from .measure import produce_encoded, wait_for

TREES = 500
T0 = 1_700_000_000_000
MINUTE = 60_000
BATCH = 500  # records per consumed batch: the runtime's default batch size


def meta_model(
    names: list[str], *, seed: int = 5, version: str = "bench-500", status: str = "live"
) -> dict[str, Any]:
    """A 500-tree model fitted on seeded synthetic rows (what it learns does not matter here),
    with a Platt calibration map, as the trainer ships every model."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(5000, len(names)))
    labels = (rows[:, 0] * rows[:, 2] + 0.3 * rows[:, 5] > 0).astype(int)
    booster = train_booster(rows, labels, names, rounds=TREES, max_depth=4)
    calibration = Calibration("platt", a=0.8, b=0.05).to_json()
    return model_record(
        booster,
        name="meta",
        version=version,
        trained_ts_ms=1,
        feature_names=names,
        calibration=calibration,
        status=status,
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


def challenger_cost(settings: FleetSettings, signals: int = 20_000, rounds: int = 3) -> dict[str, float]:
    """(n) The enricher core over one seeded stream of bars and signals, as the runtime gives
    it (look-ahead over each batch, then each record, every output encoded with the Serde, the
    stores committed per batch), with the champion alone and with a challenger as well: CPU
    seconds, the two cores taking turns batch by batch (so both see the same load on a busy
    machine), `rounds` times; the median of each."""
    names = EnricherProcessor(settings).feature_names
    champion = Record("models", 0, 0, "meta", meta_model(names))
    challenger = Record(
        "models",
        0,
        1,
        "meta:challenger",
        meta_model(names, seed=6, version="bench-500-challenger", status="challenger"),
    )
    warm, timed = shadow_stream(signals)
    spent: list[list[float]] = [[], []]  # per round: the champion alone, with a challenger
    for _ in range(rounds):
        cores = [_Core(settings, [champion, *warm]), _Core(settings, [champion, challenger, *warm])]
        for seconds, found in zip(_taking_turns(cores, timed), spent, strict=True):
            found.append(seconds)
    alone, shadowed = (signals / statistics.median(found) for found in spent)
    return {
        "challenger_signals": signals,
        "challenger_none_signals_per_s": alone,
        "challenger_one_signals_per_s": shadowed,
        "challenger_loss_pct": 100 * (1 - shadowed / alone),
    }


def shadow_stream(signals: int, symbols: int = 20, per_bar: int = 10) -> tuple[list[Record], list[Record]]:
    """(100 minutes of bars of `symbols` symbols, the stream): blocks of 10 minutes, the block's
    bars and then `per_bar` signals per symbol and minute (topics come in fetches, not mixed)."""
    names = [f"S{i:02d}" for i in range(symbols)]
    bars: list[Record] = []
    sigs: list[Record] = []

    def minute(m: int) -> list[Record]:
        for s, name in enumerate(names):
            price = 100.0 * math.exp(0.01 * math.sin(m / 7 + s))
            value = bar_record(name, T0 + m * MINUTE, price, 1000.0 + (m * 7 + s) % 50, seq=len(bars))
            bars.append(Record("market.buffer", 0, len(bars), name, value))
        return bars[-len(names) :]

    warm = [r for m in range(100) for r in minute(m)]
    stream: list[Record] = []
    start = 100
    while len(sigs) < signals:
        block = range(start, start + 10)
        stream += [r for m in block for r in minute(m)]
        for m in block:
            for name in names:
                for _ in range(per_bar):
                    n = len(sigs)
                    value = signal(
                        name, T0 + m * MINUTE, seq=n, direction=1 - n % 3, ma_spread=(n % 13) / 100
                    )
                    sigs.append(Record("signals.raw", 0, n, name, value))
                    stream.append(sigs[-1])
                    if len(sigs) == signals:
                        return warm, stream
        start += 10
    return warm, stream


class _Core:
    """A fresh enricher core (recording its metrics as a live worker does) and its stores, fed
    batches as the worker loop feeds them, its outputs encoded as the checkpoint encodes them."""

    def __init__(self, settings: FleetSettings, first: list[Record]) -> None:
        self.core = EnricherProcessor(settings, Edges(metrics=Recorder(WorkerMetrics(), "enricher")))
        self.stores = {name: MemoryStore(codec) for name, codec in self.core.stores.items()}
        self.settings, self.serde = settings, Serde()
        self.topology = load_topology(settings.partitions)
        for at in range(0, len(first), BATCH):
            self.batch(first[at : at + BATCH])

    def batch(self, records: list[Record]) -> list[tuple[str, bytes]]:
        """The look-ahead, each record in its own journal and its outputs encoded; then the
        stores committed (the stream is partition 0). The outputs' topics and bytes."""
        views = _views(self.stores)
        self.core.look_ahead(records, {0: views}.__getitem__)
        encoded = []
        for record in records:
            for view in views.values():
                view.begin_record()
            encoded += [(out.topic, self.encode(out)) for out in self.core.process(record, views, 0)]
        for name, view in views.items():
            self.stores[name].commit(view)
        return encoded

    def encode(self, out: Output) -> bytes:
        """What the runtime's checkpoint does with an output before producing it."""
        out.header_pairs()
        if isinstance(out.value, bytes):
            return out.value
        schema = self.topology.topics[out.topic].value_schema
        assert schema is not None, f"{out.topic} has no value schema"
        return self.serde.encode(schema, out.value, topic=self.settings.topic(out.topic))


def _taking_turns(cores: list[_Core], records: list[Record]) -> list[float]:
    """CPU seconds each core spends on the records, the cores taking turns batch by batch (in
    alternating order)."""
    spent = [0.0] * len(cores)
    for n, at in enumerate(range(0, len(records), BATCH)):
        chunk = records[at : at + BATCH]
        for i in range(len(cores)) if n % 2 == 0 else reversed(range(len(cores))):
            started = time.process_time()
            cores[i].batch(chunk)
            spent[i] += time.process_time() - started
    return spent
