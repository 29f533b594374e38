"""A real NautilusTrader node (no venue) for the demo, the bench and the tests: a Strategy
publishes `--signals` TradingSignals round-robin over `--symbols` through its Redis-backed bus,
and a FleetActor (with its catch-up across restarts) writes every RegimeDecision and
EnrichedSignal it hands on as a JSON line, with `heard_ns`, the wall clock at on_data.

python -m harness.demo.nautilus_node --redis-port P --trader-id T --stream S --out F ...
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from nautilus_trader.common.config import DatabaseConfig, MessageBusConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import DataType
from nautilus_trader.trading.strategy import Strategy

from workers.nautilus_bridge import payloads
from workers.nautilus_bridge.actor import FleetActor, FleetActorConfig
from workers.nautilus_bridge.nautilus_types import EnrichedSignal, RegimeDecision, TradingSignal


class SignalsConfig(StrategyConfig, frozen=True):  # type: ignore[misc,call-arg]
    signals: int = 0
    symbols: int = 1
    start_ms: int = 1_700_000_000_000
    signals_file: str = ""  # JSON lines of TradingSignal fields (the demo's reference strategy)


class Signals(Strategy):  # type: ignore[misc]
    """Publishes its signals on start, 2 ms apart (the egress queue is bounded and drops when full)."""

    def on_start(self) -> None:
        cfg = self.config
        if cfg.signals_file:
            for line in Path(cfg.signals_file).read_text().splitlines():
                self.publish_data(DataType(TradingSignal), TradingSignal(**json.loads(line)))
                time.sleep(0.002)
        for i in range(cfg.signals):
            body = payloads.signal_payload(
                "nt-strategy", f"SYM{i % cfg.symbols}", 1 if i % 2 else -1, 100.0 + i,
                (cfg.start_ms + i * 1000) * payloads.NS_PER_MS,
                features={"ma_spread": 0.001 * (i % 7 - 3)},  # what the enricher requires (enricher.signal_features)
            )  # fmt: skip
            body.pop("type")
            self.publish_data(DataType(TradingSignal), TradingSignal(**body))
            time.sleep(0.002)


class Recorder(FleetActor):  # type: ignore[misc]
    """Writes what it hands on, and on stop how many duplicates and catch-ups it counted."""

    def __init__(self, config: FleetActorConfig, out: Path) -> None:
        super().__init__(config)
        self.out = out.open("a", buffering=1)

    def on_regime_decision(self, decision: RegimeDecision) -> None:
        self.out.write(json.dumps({**decision.to_dict(), "heard_ns": time.time_ns()}) + "\n")

    def on_enriched_signal(self, signal: EnrichedSignal) -> None:
        self.out.write(json.dumps({**signal.to_dict(), "heard_ns": time.time_ns()}) + "\n")

    def on_stop(self) -> None:
        super().on_stop()
        line = {"type": "stopped", "duplicates": self.duplicates, "caught_up": self.caught_up}
        self.out.write(json.dumps(line) + "\n")
        self.out.close()


def build_node(a: argparse.Namespace) -> TradingNode:
    config = TradingNodeConfig(
        trader_id=a.trader_id,
        # No venue clients: nothing to wait for on stop (the default waits 10 s after stopping).
        timeout_post_stop=0.2,
        timeout_disconnection=2.0,
        timeout_shutdown=1.0,
        logging=LoggingConfig(log_level=os.environ.get("NODE_LOG_LEVEL", "ERROR")),
        message_bus=MessageBusConfig(
            database=DatabaseConfig(host="127.0.0.1", port=a.redis_port),
            external_streams=[a.stream],
        ),
    )
    node = TradingNode(config=config)
    actor = FleetActorConfig(
        requester=a.requester or a.trader_id,
        redis_url=f"redis://127.0.0.1:{a.redis_port}/0",
        delivery_stream=a.stream,
    )
    node.trader.add_actor(Recorder(actor, a.out))
    signals = SignalsConfig(signals=a.signals, symbols=a.symbols, signals_file=a.signals_file)
    node.trader.add_strategy(Signals(signals))
    node.build()
    return node


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--trader-id", required=True)
    p.add_argument("--stream", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--requester", default="")
    p.add_argument("--signals", type=int, default=0)
    p.add_argument("--symbols", type=int, default=1)
    p.add_argument("--signals-file", default="")
    p.add_argument("--seconds", type=float, default=30.0)
    a = p.parse_args(argv)
    node = build_node(a)

    def stop_later() -> Any:
        time.sleep(a.seconds)
        node.stop()

    threading.Thread(target=stop_later, daemon=True).start()
    try:
        node.run()
    finally:
        node.dispose()


if __name__ == "__main__":
    main()
