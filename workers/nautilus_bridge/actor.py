"""A Nautilus Actor a strategy's node adds to hear the fleet: every RegimeDecision and
EnrichedSignal the bridge delivers, once each (duplicates dropped by id), the latest decision
per symbol, a snapshot of those asked for on start, and, given `redis_url`, everything
delivered while its node was down (catch_up.py: node ingress starts at "now").

The node needs `MessageBusConfig(database=..., external_streams=[<bridge delivery_stream>])`;
docs/nautilus.md has a whole node configuration.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import DataType

from workers.nautilus_bridge import catch_up
from workers.nautilus_bridge.nautilus_types import (
    EnrichedSignal,
    RegimeDecision,
    SnapshotRequest,
    TradingSignal,
    register,
)

CATCH_UP_TIMER = "regime-fleet-catch-up"
CHECKPOINT_TIMER = "regime-fleet-checkpoint"


class FleetActorConfig(ActorConfig, frozen=True):  # type: ignore[misc,call-arg]
    """`requester` names this node's reader: its snapshot requests and its cursor key (one per node).
    `redis_url` (the node's Redis) turns on the catch-up across restarts; without it, a restarted
    node gets the snapshot of latest decisions only."""

    requester: str = "nautilus"
    redis_url: str | None = None
    delivery_stream: str = "regime-fleet:stream"
    checkpoint_interval_ms: int = 1000
    resume_margin_ms: int = 5000
    catch_up_interval_ms: int = 100


class FleetActor(Actor):  # type: ignore[misc]
    """Subscribes to the fleet's types; override on_regime_decision / on_enriched_signal."""

    def __init__(self, config: FleetActorConfig | None = None) -> None:
        register()
        config = config or FleetActorConfig()
        super().__init__(config)
        self.fleet_config = config
        self.requester = config.requester
        self.latest: dict[str, RegimeDecision] = {}
        self.seen: set[str] = set()
        self.duplicates = 0
        self.caught_up = 0  # handed on by the catch-up rather than by the node's ingress
        self.redis: Any = None
        self.restored = catch_up.ReaderCursor("0-0")  # what was handed on before this start
        self.cursor = catch_up.ReaderCursor("0-0")
        self.read_id = "0-0"
        self.live = False
        # 1.221.0 calls on_data for stream entries on its streaming thread, and timer callbacks
        # elsewhere: one lock keeps hand-on order, the catch-up's position and the cursor whole.
        self.lock = threading.RLock()

    def on_start(self) -> None:
        for cls in (RegimeDecision, EnrichedSignal):
            self.msgbus.add_streaming_type(cls)
            self.subscribe_data(DataType(cls))
        if self.fleet_config.redis_url:
            self._start_catch_up()
        now = self.clock.timestamp_ns()
        self.publish_data(
            DataType(SnapshotRequest), SnapshotRequest(requester=self.requester, ts_event=now, ts_init=now)
        )

    def on_stop(self) -> None:
        with self.lock:
            if self.redis is not None:
                self._checkpoint()
                self.redis.close()
                self.redis = None

    def on_data(self, data: Any) -> None:
        went_live = False
        with self.lock:
            if self.redis is not None and not self.live:
                # The node's ingress has started: read up to (and past) this entry first, so
                # nothing between our start and its first read is missed and order holds.
                self._catch_up_pass()
                self.live = went_live = True
            self._hand_on(data)
        if went_live:  # outside the lock: a timer callback may hold the clock's while it waits for ours
            self.clock.cancel_timer(CATCH_UP_TIMER)

    def _start_catch_up(self) -> None:
        import redis

        cfg = self.fleet_config
        self.redis = redis.Redis.from_url(str(cfg.redis_url))
        key = catch_up.cursor_key(cfg.delivery_stream, self.requester)
        stored = catch_up.load_cursor(self.redis, key)
        if stored is None:  # a first start: from now (the snapshot covers the past)
            self.read_id = catch_up.redis_now_id(self.redis)
        else:
            self.restored = catch_up.ReaderCursor(stored.resume_id, dict(stored.high))
            self.cursor = stored
            self.read_id = stored.resume_id
        with self.lock:
            self._catch_up_pass(inclusive=True)
        self.clock.set_timer(
            CATCH_UP_TIMER, timedelta(milliseconds=cfg.catch_up_interval_ms), callback=self._on_catch_up_timer
        )
        self.clock.set_timer(
            CHECKPOINT_TIMER,
            timedelta(milliseconds=cfg.checkpoint_interval_ms),
            callback=self._on_checkpoint_timer,
        )

    def _on_catch_up_timer(self, _: Any) -> None:
        with self.lock:
            if not self.live and self.redis is not None:
                self._catch_up_pass()

    def _on_checkpoint_timer(self, _: Any) -> None:
        with self.lock:
            if self.redis is not None:
                self._checkpoint()

    def _catch_up_pass(self, inclusive: bool = False) -> None:
        types = {RegimeDecision.TYPE: RegimeDecision, EnrichedSignal.TYPE: EnrichedSignal}
        stream = self.fleet_config.delivery_stream
        for entry_id, body in catch_up.read_after(self.redis, stream, self.read_id, inclusive=inclusive):
            self.read_id = entry_id
            inclusive = False
            if body is not None:
                self.caught_up += self._hand_on(types[body["type"]].from_dict(body))

    def _checkpoint(self) -> None:
        key = catch_up.cursor_key(self.fleet_config.delivery_stream, self.requester)
        catch_up.save_cursor(self.redis, key, self.cursor, self.fleet_config.resume_margin_ms)

    def _hand_on(self, data: Any) -> int:
        """Call the handler once per record (1), or count a duplicate (0)."""
        if isinstance(data, RegimeDecision):
            key = f"d:{data.event_id}"
        elif isinstance(data, EnrichedSignal):
            key = f"s:{data.signal_id}"
        else:
            return 0
        kind, partition, offset = data.TYPE, int(data.kafka_partition), int(data.kafka_offset)
        if key in self.seen or self.restored.covers(kind, partition, offset):
            self.duplicates += 1
            return 0
        self.seen.add(key)
        self.cursor.advance(kind, partition, offset)
        if isinstance(data, RegimeDecision):
            held = self.latest.get(data.symbol)
            if held is None or (data.ts_event, data.kafka_offset) >= (held.ts_event, held.kafka_offset):
                self.latest[data.symbol] = data
            self.on_regime_decision(data)
        else:
            self.on_enriched_signal(data)
        return 1

    def on_regime_decision(self, decision: RegimeDecision) -> None:
        """Each decision once; `self.latest` already holds the newest per symbol."""

    def on_enriched_signal(self, signal: EnrichedSignal) -> None:
        """Each enriched signal once."""

    def publish_trading_signal(self, signal: TradingSignal) -> None:
        """What a strategy (or this actor) calls to send a signal to the fleet."""
        self.publish_data(DataType(TradingSignal), signal)
