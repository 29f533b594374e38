"""The pure publisher core: per-symbol ordering, dedupe, and the provenance hash chain.

Per symbol the store keeps the last published position (engine_timestamp_ms, event rank)
and the last event_hash. An event at or below that position was published already (a
redelivery) and is dropped and counted; anything above it is published with
prev_event_hash = the last event_hash.

A result is verified before it can move the chain: its run_id must be the hash of its own
fields (docs/contracts.md) and its event_id the hash of run_id and event_type; anything else
did not come from an engine and is dead-lettered (RESULT_UNVERIFIED) instead of muting the
symbol's later events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.config import FleetSettings
from workers.contracts.identity import event_hash, event_id, run_id
from workers.processing import (
    Edges,
    JsonCodec,
    Output,
    ProcessorBase,
    Record,
    StateStore,
    dead_letter,
)
from workers.topics import EVENTS, FLEET_DLQ

STORE = "chain"
RANK = {
    "EngineRunStarted": 0,
    "EngineRunCompleted": 1,
    "EngineRunFailed": 1,
    "HysteresisDecisionPublished": 2,
}


def verify_result(event: Mapping[str, Any]) -> str | None:
    """Why this result cannot have come from an engine, or None."""
    provenance = event["provenance"]
    derived = run_id(
        symbol=event["symbol"],
        engine_timestamp_ms=event["engine_timestamp_ms"],
        cut_start_ingest_seq=event["cut_start_ingest_seq"],
        cut_end_ingest_seq=event["cut_end_ingest_seq"],
        cut_kind=event["cut_kind"],
        engine_mode=event["engine_mode"],
        engine_version=provenance["engine_version"],
        config_fingerprint=provenance["config_fingerprint"],
    )
    if event["run_id"] != derived:
        return f"run_id {event['run_id']} is not the hash of the result's own fields ({derived})"
    if event["event_id"] != event_id(event["run_id"], event["event_type"]):
        return f"event_id {event['event_id']} is not derived from run_id and event_type"
    if event["event_type"] not in RANK:
        return f"event_type {event['event_type']!r} is not an engine result"
    return None


class PublisherProcessor(ProcessorBase):
    name = "publisher"

    def __init__(self, edges: Edges | None = None) -> None:
        self.metrics = (edges or Edges()).metrics
        self.stores = {STORE: JsonCodec()}

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        view = stores[STORE]
        event: dict[str, Any] = dict(record.value)
        unverified = verify_result(event)
        if unverified is not None:
            return [dead_letter(record, FLEET_DLQ, "RESULT_UNVERIFIED", unverified)]
        symbol = event["symbol"]
        position = [event["engine_timestamp_ms"], RANK[event["event_type"]]]
        last = view.get(symbol) or {"position": None, "event_hash": ""}
        if last["position"] is not None and position <= last["position"]:
            self.metrics.count("duplicates_dropped")
            return []
        event["provenance"] = {
            **event["provenance"],
            "prev_event_hash": last["event_hash"],
            "event_hash": "",
        }
        event["provenance"]["event_hash"] = event_hash(event)
        event["published_at_ms"] = now_ms
        view.put(symbol, {"position": position, "event_hash": event["provenance"]["event_hash"]})
        self.metrics.count("published_events", event_type=event["event_type"])
        lag_ms = max(now_ms - event["engine_timestamp_ms"], 0)
        self.metrics.observe("end_to_end_latency_seconds", lag_ms / 1000)
        headers = {
            "event_type": event["event_type"],
            "schema": "OrchestratorEvent",
            "run_id": event["run_id"],
            "correlation_id": event["correlation_id"],
        }
        return [Output(EVENTS, symbol, event, headers, partition=record.partition)]


def create(settings: FleetSettings, edges: Edges) -> PublisherProcessor:
    return PublisherProcessor(edges)
