"""The demo's second act: the reference strategy's signals through the enricher, first with no
model (cold start: confidence 0.5, version none), then with the meta-model the gate let
through, or still with none when the gate refused it (it says which)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer

from harness.demo.model import train_contrast_model, train_demo_model
from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.meta_model.primary import crossovers
from workers.runtime.topic_io import produce_values
from workers.topology import Topology
from workers.trainer.publish import publication_key, publish_model

FAST, SLOW = 3, 10  # the crossover's moving averages, in bars (daily bars give few crossings)


def enrich_signals(
    settings: FleetSettings, topology: Topology, events: list[dict[str, Any]], timeout_s: float = 180
) -> dict[str, int]:
    first, second = _halves(list(crossovers(events, fast=FAST, slow=SLOW)))
    signals, half = first + second, len(first)
    bars = [e for e in events if e["kind"] == "BAR"]
    print(
        f"\nreference strategy (MA {FAST}/{SLOW} crossover): {len(signals)} signals; the first half of "
        f"each symbol's ({half}) go out before any model exists",
        flush=True,
    )
    viewer = _Viewer(settings)
    try:
        produce_values(settings, topology, "signals.raw", [(s["symbol"], s, None) for s in signals[:half]])
        viewer.wait_for(half, timeout_s)
        demo = train_demo_model(settings, _history_before(bars), FAST, SLOW)
        model = demo.record
        placed = publish_model(settings, model, key=publication_key(model, model["model_version"]))
        print(
            f"\nmodel {model['model_version']} trained on {model['training_samples']} labelled signals of the "
            f"index history before the demo's days (purged walk-forward CV AUC {model['auc']:.3f}); the gate:\n"
            f"{demo.verdict()}",
            flush=True,
        )
        if demo.live:
            print(
                f"ACCEPTED: published live to {len(placed)} partitions of models; report: {demo.png}",
                flush=True,
            )
        else:
            print(
                f"REJECTED ({demo.report['rejected_because']}): recorded on models under its own key, never "
                f"activated; the enricher KEEPS THE COLD-START MODEL (confidence 0.5, version none). "
                f"Report: {demo.png}",
                flush=True,
            )
        contrast = train_contrast_model(settings, FAST, SLOW)
        print(
            f"\nfor contrast, {contrast.record['model_version']} on seeded synthetic bars where the crossover "
            f"fails in volatile ranges (learnable from the volatility features): "
            f"{contrast.record['status'].upper()} on {contrast.record['training_samples']} signals\n"
            f"{contrast.verdict()}\n"
            f"  not published (it knows nothing of indices); report: {contrast.png}",
            flush=True,
        )
        produce_values(settings, topology, "signals.raw", [(s["symbol"], s, None) for s in signals[half:]])
        viewer.wait_for(len(signals), timeout_s)
    finally:
        viewer.close()
    print(f"\nenriched signals by model version: {dict(viewer.versions)}", flush=True)
    return {"signals": len(signals), "enriched": viewer.seen}


def _history_before(bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shipped S&P 500 and NASDAQ bars before the first day the demo replays: the model
    never sees the days it then scores."""
    from harness.demo.data import index_events

    first: dict[str, int] = {}
    for bar in bars:
        first[bar["symbol"]] = min(first.get(bar["symbol"], bar["event_ts_ms"]), bar["event_ts_ms"])
    return [
        e
        for symbol in ("SPX", "NDX")
        for e in index_events(symbol)
        if e["kind"] == "BAR" and e["event_ts_ms"] < first.get(symbol, 0)
    ]


def _halves(signals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(each symbol's first half of its signals, each symbol's second half), in order."""
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for s in signals:
        by_symbol.setdefault(s["symbol"], []).append(s)
    first = [s for group in by_symbol.values() for s in group[: len(group) // 2]]
    second = [s for group in by_symbol.values() for s in group[len(group) // 2 :]]
    return first, second


class _Viewer:
    """Reads signals.enriched and prints the latest enriched signal per symbol."""

    def __init__(self, settings: FleetSettings) -> None:
        self.serde = Serde()
        self.consumer = Consumer(clients.consumer_config(settings, f"{settings.topic_prefix}demo-signals"))
        self.consumer.subscribe([settings.topic("signals.enriched")])
        self.latest: dict[str, dict[str, Any]] = {}
        self.versions: Counter[str] = Counter()
        self.seen = 0

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline, printed = time.monotonic() + timeout_s, 0.0
        while self.seen < count and time.monotonic() < deadline:
            for msg in self.consumer.consume(500, 0.5):
                if msg.error() is None:
                    event = self.serde.decode("EnrichedSignalEvent", msg.value())
                    self.latest[event["signal"]["symbol"]] = event
                    self.versions[event["model_version"]] += 1
                    self.seen += 1
            if time.monotonic() - printed >= 2 or self.seen >= count:
                printed = time.monotonic()
                self._table(count)
        if self.seen < count:
            print(f"only {self.seen}/{count} signals enriched after {timeout_s:.0f} s", flush=True)

    def _table(self, count: int) -> None:
        lines = [
            f"\n{'symbol':8} {'signal at':16} {'dir':>3} {'confidence':>10} {'toxicity':>8} "
            f"{'regime':16} {'weight':>6} model"
        ]
        for symbol in sorted(self.latest):
            e = self.latest[symbol]
            s = e["signal"]
            when = datetime.fromtimestamp(s["signal_ts_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"{symbol:8} {when:16} {s['direction']:>+3d} {e['meta_confidence']:>10.3f} "
                f"{e['toxicity']:>8.3f} {e['regime']:16} {e['regime_weight']:>6.2f} {e['model_version']}"
            )
        lines.append(f"enriched {self.seen}/{count}")
        print("\n".join(lines), flush=True)

    def close(self) -> None:
        self.consumer.close()
