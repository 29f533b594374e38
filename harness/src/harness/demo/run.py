"""`regime-fleet demo`: a broker, fresh topics, the four workers, real index data, live results."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from harness.demo.console import keep_until_interrupted, start_console
from harness.demo.data import DAY_MS, index_events, synthetic_intraday
from harness.demo.nautilus import nautilus_act
from harness.demo.signals import enrich_signals
from harness.lag import group_lag
from harness.launcher import Launcher
from workers import clients
from workers.config import load_settings
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.runtime.admin import ensure_topics
from workers.runtime.topic_io import produce_lines
from workers.topology import load_topology


def run_demo(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        from harness.broker.local import LocalBroker

        print("starting the local Kafka broker (first run fetches it from Maven Central)...", flush=True)
        bootstrap = LocalBroker(port=int(os.environ.get("KAFKA_PORT", "9092"))).up()
    prefix = f"demo-{datetime.now(UTC):%Y%m%d%H%M%S}."
    root = Path(".cache") / "demo" / prefix.rstrip(".")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REGIME_FLEET_TOPIC_PREFIX": prefix,
        "REGIME_FLEET_PARTITIONS": str(args.partitions),
        "REGIME_FLEET_SCHEDULER__INTERVAL_MS": str(DAY_MS),
        "REGIME_FLEET_RUNTIME__STATE_DIR": str(root / "state"),
        "REGIME_FLEET_TRAINER__REPORT_DIR": str(root / "models"),
        "REGIME_FLEET_LOG_LEVEL": "WARNING",
        # The signals of the second act come after two years of daily decisions: keep them all,
        # so each signal finds its regime as of its own (historical) time.
        "REGIME_FLEET_ENRICHER__REGIME_HISTORY": "1000",
    }
    os.environ.update(env)
    settings = load_settings()
    topology = load_topology(settings.partitions)
    ensure_topics(settings, topology)
    print(f"broker {bootstrap}; topics created with prefix {prefix!r}; logs in {root}/", flush=True)
    with Launcher(root) as fleet:  # os.environ holds env now
        fleet.start_fleet(topology.order())
        console = start_console(fleet)  # the web console (docs/console.md)
        events = [e for s in ("SPX", "NDX") for e in index_events(s, days=args.days, window=args.window)]
        events += synthetic_intraday(4, 1500, step_ms=1_200_000, snapshot_every=36)
        report = produce_lines(settings, topology, "market.raw", (dumps(e) for e in events))
        print(
            f"produced {report.produced} raw events: S&P 500 and NASDAQ daily bars (arch), "
            f"4 seeded synthetic symbols",
            flush=True,
        )
        try:
            summary = _watch(settings, topology, fleet)
            summary.update(enrich_signals(settings, topology, events))
            summary.update(nautilus_act(settings, fleet, events, root))  # the third act
            if getattr(args, "keep", False):
                keep_until_interrupted(console)
        finally:
            codes = fleet.stop_all()
    print(f"workers stopped: {codes}")
    ok = all(c == 0 for c in codes.values()) and summary["published"] > 0
    ok = ok and summary["enriched"] == summary["signals"]
    ok = ok and summary["nautilus_enriched"] == summary["nautilus_signals"]
    print("demo finished" if ok else "demo FAILED", flush=True)
    print(
        f"\nThe topics stay for inspection (prefix {prefix!r}). Try:\n"
        f"  kcat -b {bootstrap} -C -t {prefix}regime.events -f '%k %h\\n' -e | head\n"
        f"  REGIME_FLEET_TOPIC_PREFIX={prefix} make replay TOPIC=engine.runs   (or market.buffer, market.raw)\n"
        f"  REGIME_FLEET_TOPIC_PREFIX={prefix} make replay TOPIC=signals.enriched\n"
        f"  REGIME_FLEET_TOPIC_PREFIX={prefix} .venv/bin/regime-fleet provenance verify",
        flush=True,
    )
    return 0 if ok else 1


def _watch(settings: Any, topology: Any, fleet: Launcher, quiet_s: float = 8.0) -> dict[str, int]:
    """Print a per-symbol table every 2 s until the fleet has been idle for quiet_s."""
    serde = Serde()
    consumer = Consumer(clients.consumer_config(settings, f"{settings.topic_prefix}demo-view"))
    consumer.subscribe([settings.topic("regime.events")])
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    published, last_new, last_print = 0, time.monotonic(), 0.0
    last_lag: dict[str, int] = {}
    try:
        while True:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                v = serde.decode("OrchestratorEvent", msg.value())
                published += 1
                counts[v["symbol"]][v["event_type"]] += 1
                if v["regime_output"] is not None:
                    latest[v["symbol"]] = v
                last_new = time.monotonic()
            now = time.monotonic()
            if now - last_print >= 2:
                last_print = now
                lag = group_lag(settings, topology)
                _table(latest, counts, lag, published)
                if not all(fleet.alive().values()):
                    print(f"a worker exited: {fleet.alive()}", file=sys.stderr)
                    break
                # Done: quiet and caught up (lag 0), or quiet for long with lag no longer moving.
                settled = not any(lag.values()) or (lag == last_lag and now - last_new > 3 * quiet_s)
                if now - last_new > quiet_s and settled and published:
                    break
                last_lag = lag
    finally:
        consumer.close()
    print(f"\nsummary: {published} regime events published for {len(counts)} symbols")
    return {"published": published}


def _table(
    latest: dict[str, Any], counts: dict[str, dict[str, int]], lag: dict[str, int], published: int
) -> None:
    lines = [f"\n{'symbol':8} {'as of':10} {'regime':16} {'conf':>5} {'completed':>9} {'failed':>6}"]
    for symbol in sorted(counts):
        v = latest.get(symbol)
        day = datetime.fromtimestamp(v["engine_timestamp_ms"] / 1000, UTC).strftime("%Y-%m-%d") if v else "-"
        regime = v["regime_output"]["regime"] if v else "-"
        conf = f"{v['regime_output']['confidence']:.2f}" if v else "-"
        c = counts[symbol]
        lines.append(
            f"{symbol:8} {day:10} {regime:16} {conf:>5} {c['EngineRunCompleted']:>9} {c['EngineRunFailed']:>6}"
        )
    lines.append(f"published {published}; lag per worker group: {lag}")
    print("\n".join(lines), flush=True)
