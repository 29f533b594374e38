"""The pure publisher core: per-symbol ordering, dedupe, and the provenance hash chain.

Per symbol the store keeps the last published position (engine_timestamp_ms, event rank)
and the last event_hash. An event at or below that position was published already (a
redelivery) and is dropped and counted; anything above it is published with
prev_event_hash = the last event_hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.contracts.identity import event_hash
from workers.runtime.records import Output, Record
from workers.state.store import StoreView

EVENTS = "regime.events"
STORE = "chain"
RANK = {
    "EngineRunStarted": 0,
    "EngineRunCompleted": 1,
    "EngineRunFailed": 1,
    "HysteresisDecisionPublished": 2,
}


class PublisherProcessor:
    name = "publisher"
    stores: tuple[str, ...] = (STORE,)

    def __init__(self, on_duplicate: Callable[[], None] = lambda: None) -> None:
        self.on_duplicate = on_duplicate

    def process(self, record: Record, stores: Mapping[str, StoreView], now_ms: int) -> list[Output]:
        view = stores[STORE]
        event: dict[str, Any] = dict(record.value)
        symbol = event["symbol"]
        position = [event["engine_timestamp_ms"], RANK[event["event_type"]]]
        last = view.get(symbol) or {"position": None, "event_hash": ""}
        if last["position"] is not None and position <= last["position"]:
            self.on_duplicate()
            return []
        event["provenance"] = {
            **event["provenance"],
            "prev_event_hash": last["event_hash"],
            "event_hash": "",
        }
        event["provenance"]["event_hash"] = event_hash(event)
        event["published_at_ms"] = now_ms
        view.put(symbol, {"position": position, "event_hash": event["provenance"]["event_hash"]})
        headers = {
            "event_type": event["event_type"],
            "schema": "orchestrator_event",
            "run_id": event["run_id"],
            "correlation_id": event["correlation_id"],
        }
        return [Output(EVENTS, symbol, event, headers, partition=record.partition)]
