"""The dicts inside Nautilus stream entries: what the fleet's records become on the Nautilus
bus and what a Nautilus `TradingSignal` carries. Pure: no Redis, no Kafka, no nautilus_trader.

The shapes are those of Nautilus's `MsgSpecSerializer`: a dict with `type` (the registered
class name) and `ts_event`/`ts_init` in UNIX nanoseconds, encoded as msgpack or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NS_PER_MS = 1_000_000
DECISION_TYPE = "RegimeDecision"
ENRICHED_TYPE = "EnrichedSignal"
SIGNAL_TYPE = "TradingSignal"
SNAPSHOT_REQUEST_TYPE = "SnapshotRequest"
DECISION_TOPIC = f"data.{DECISION_TYPE}"  # what Actor.subscribe_data(DataType(RegimeDecision)) hears
ENRICHED_TOPIC = f"data.{ENRICHED_TYPE}"


def decision_payload(
    event: Mapping[str, Any], partition: int, offset: int, ts_init_ns: int
) -> dict[str, Any]:
    """A regime.events OrchestratorEvent as a RegimeDecision dict; `ts_init_ns` is the Kafka
    record's timestamp, so a re-delivery is byte-identical."""
    output = event.get("regime_output") or {}
    decision = event.get("hysteresis_decision") or {}
    error = event.get("error") or {}
    return {
        "type": DECISION_TYPE,
        "event_id": str(event["event_id"]),
        "event_type": str(event["event_type"]),
        "symbol": str(event["symbol"]),
        "run_id": str(event["run_id"]),
        "regime": str(decision.get("current_regime") or output.get("regime") or ""),
        "confidence": float(output.get("confidence", 0.0)),
        "decision": str(decision.get("decision") or ""),
        "candidate_regime": str(decision.get("candidate_regime") or ""),
        "error_code": str(error.get("code") or ""),
        "kafka_partition": partition,
        "kafka_offset": offset,
        "ts_event": int(event["engine_timestamp_ms"]) * NS_PER_MS,
        "ts_init": ts_init_ns,
    }


def enriched_payload(
    record: Mapping[str, Any], partition: int, offset: int, ts_init_ns: int
) -> dict[str, Any]:
    """A signals.enriched EnrichedSignalEvent as an EnrichedSignal dict (the raw signal flattened)."""
    signal = record["signal"]
    return {
        "type": ENRICHED_TYPE,
        "signal_id": str(signal["signal_id"]),
        "strategy_id": str(signal["strategy_id"]),
        "symbol": str(signal["symbol"]),
        "direction": int(signal["direction"]),
        "strength": float(signal["strength"]),
        "price": float(signal["price"]),
        "meta_confidence": float(record["meta_confidence"]),
        "toxicity": float(record["toxicity"]),
        "regime": str(record["regime"]),
        "regime_weight": float(record["regime_weight"]),
        "regime_confidence": float(record["regime_confidence"]),
        "model_version": str(record["model_version"]),
        "kafka_partition": partition,
        "kafka_offset": offset,
        "ts_event": int(signal["signal_ts_ms"]) * NS_PER_MS,
        "ts_init": ts_init_ns,
    }


def signal_payload(
    strategy_id: str,
    symbol: str,
    direction: int,
    price: float,
    ts_event_ns: int,
    *,
    strength: float = 1.0,
    features: Mapping[str, float] | None = None,
    ts_init_ns: int | None = None,
) -> dict[str, Any]:
    """A TradingSignal dict, as a strategy's node writes it (tests and the bench write these too)."""
    return {
        "type": SIGNAL_TYPE,
        "strategy_id": strategy_id,
        "symbol": symbol,
        "direction": direction,
        "strength": strength,
        "price": price,
        "features": dict(features or {}),
        "ts_event": ts_event_ns,
        "ts_init": ts_event_ns if ts_init_ns is None else ts_init_ns,
    }
