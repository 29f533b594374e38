"""A Nautilus Actor a strategy's node adds to hear the fleet: every RegimeDecision and
EnrichedSignal the bridge delivers, once each (duplicates dropped by id), the latest decision
per symbol, and a snapshot of those asked for on start (node ingress starts at "now").

The node needs `MessageBusConfig(database=..., external_streams=[<bridge delivery_stream>])`;
docs/nautilus.md has a whole node configuration.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import DataType

from workers.nautilus_bridge.nautilus_types import (
    EnrichedSignal,
    RegimeDecision,
    SnapshotRequest,
    TradingSignal,
    register,
)


class FleetActorConfig(ActorConfig, frozen=True):  # type: ignore[misc,call-arg]
    """`requester` names this node in its snapshot requests (logs only)."""

    requester: str = "nautilus"


class FleetActor(Actor):  # type: ignore[misc]
    """Subscribes to the fleet's types; override on_regime_decision / on_enriched_signal."""

    def __init__(self, config: FleetActorConfig | None = None) -> None:
        register()
        super().__init__(config or FleetActorConfig())
        self.requester = (config or FleetActorConfig()).requester
        self.latest: dict[str, RegimeDecision] = {}
        self.seen: set[str] = set()
        self.duplicates = 0

    def on_start(self) -> None:
        for cls in (RegimeDecision, EnrichedSignal):
            self.msgbus.add_streaming_type(cls)
            self.subscribe_data(DataType(cls))
        now = self.clock.timestamp_ns()
        self.publish_data(
            DataType(SnapshotRequest), SnapshotRequest(requester=self.requester, ts_event=now, ts_init=now)
        )

    def on_data(self, data: Any) -> None:
        if isinstance(data, RegimeDecision):
            key = f"d:{data.event_id}"
        elif isinstance(data, EnrichedSignal):
            key = f"s:{data.signal_id}"
        else:
            return
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        if isinstance(data, RegimeDecision):
            held = self.latest.get(data.symbol)
            if held is None or (data.ts_event, data.kafka_offset) >= (held.ts_event, held.kafka_offset):
                self.latest[data.symbol] = data
            self.on_regime_decision(data)
        else:
            self.on_enriched_signal(data)

    def on_regime_decision(self, decision: RegimeDecision) -> None:
        """Each decision once; `self.latest` already holds the newest per symbol."""

    def on_enriched_signal(self, signal: EnrichedSignal) -> None:
        """Each enriched signal once."""

    def publish_trading_signal(self, signal: TradingSignal) -> None:
        """What a strategy (or this actor) calls to send a signal to the fleet."""
        self.publish_data(DataType(TradingSignal), signal)
