"""Online equals offline (d): the features the trainer computes for a signal equal the ones the
enricher computes live for it. Live here is the enricher core at its default settings (256
pending records per symbol, not the trainer's 4), on two partitions, fed bar by bar with each
signal right after the bar that caused it, as a strategy would publish it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from harness.demo.data import index_events
from workers.config import load_settings
from workers.contracts.buffer import buffered
from workers.enricher.features import packed
from workers.meta_model.primary import crossovers
from workers.meta_model.training import dataset_from_bars
from workers.processing.driver import Driver
from workers.topology import load_topology


def test_training_rows_equal_the_live_enrichment_of_each_signal() -> None:
    bars = [e for s in ("SPX", "NDX") for e in index_events(s, days=600) if e["kind"] == "BAR"]
    settings = load_settings(partitions=2, trainer={"min_bars": 500})
    data = dataset_from_bars(settings, bars)
    assert len(data.labels) > 50

    live = Driver.for_fleet(settings, load_topology(2), ["enricher"])
    t = settings.section("trainer")
    signals: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)  # by the bar that caused them
    for s in crossovers(bars, t.fast, t.slow):
        signals[s["signal_ts_ms"] - 1].append(s)
    timeline = sorted(bars, key=lambda b: (b["event_ts_ms"], b["symbol"]))
    for i, bar in enumerate(timeline):
        partition = 0 if bar["symbol"] == "SPX" else 1
        live.feed("market.buffer", bar["symbol"], buffered(bar), partition=partition)
        last_of_time = i + 1 == len(timeline) or timeline[i + 1]["event_ts_ms"] != bar["event_ts_ms"]
        if last_of_time:
            for s in signals.pop(bar["event_ts_ms"], []):
                live.feed("signals.raw", s["symbol"], s, partition=0 if s["symbol"] == "SPX" else 1)
    enriched = [e.value for e in live.received("signals.enriched")]
    assert len(enriched) >= len(data.labels)
    online = Counter(
        (e["signal"]["signal_ts_ms"], packed([e["feature_values"].get(n, math.nan) for n in data.names]))
        for e in enriched
    )
    offline = Counter((int(t0), packed(list(row))) for t0, row in zip(data.t0, data.rows, strict=True))
    assert not offline - online  # every training row is, bit for bit, a live row of its signal
