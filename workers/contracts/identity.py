"""Deterministic ids and hashes: run_id, event_id, correlation ids, input and event hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from workers.contracts.json_form import dumps

# Fields of an OrchestratorEvent that may differ between runs over the same input.
NON_AUTHORITATIVE_FIELDS = frozenset({"published_at_ms"})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_id(
    *,
    symbol: str,
    engine_timestamp_ms: int,
    cut_start_ingest_seq: int,
    cut_end_ingest_seq: int,
    cut_kind: str,
    engine_mode: str,
    engine_version: str,
    config_fingerprint: str,
) -> str:
    """sha256 of the canonical JSON array of exactly these fields, in this order; 32 hex chars."""
    fields = [
        symbol,
        engine_timestamp_ms,
        cut_start_ingest_seq,
        cut_end_ingest_seq,
        cut_kind,
        engine_mode,
        engine_version,
        config_fingerprint,
    ]
    return _sha(dumps(fields))[:32]


def event_id(run: str, event_type: str) -> str:
    return _sha(f"{run}:{event_type}")[:32]


def correlation_id(raw_event_id: str) -> str:
    """Derived when the producer sent no correlation_id header."""
    return "evt-" + _sha(f"correlation:{raw_event_id}")[:24]


def chain_input_hash(previous: str, event: Mapping[str, Any]) -> str:
    """Fold one buffered RawMarketEvent (canonical JSON) into a cut's input hash."""
    return _sha(previous + dumps(event))


def authoritative(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event without its non-authoritative fields and without its own event_hash."""
    body = {k: v for k, v in event.items() if k not in NON_AUTHORITATIVE_FIELDS}
    body["provenance"] = {k: v for k, v in event["provenance"].items() if k != "event_hash"}
    return body


def event_hash(event: Mapping[str, Any]) -> str:
    """Links the per-symbol chain: covers prev_event_hash and every authoritative field."""
    return _sha(dumps(authoritative(event)))
