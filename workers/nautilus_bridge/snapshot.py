"""The snapshot an Actor asks for on start: the latest RegimeDecision per symbol, re-sent to the
delivery stream (Nautilus ingress starts at "now", so a starting node has missed them).
The Actor drops the ones it already holds by event_id."""

from __future__ import annotations

from typing import Any

import redis

from workers.nautilus_bridge import entries, payloads
from workers.nautilus_bridge.metrics import BridgeMetrics
from workers.nautilus_bridge.settings import NautilusBridgeSettings


def latest_key(section: NautilusBridgeSettings) -> str:
    return f"{section.key_prefix}:latest"


def offsets_key(section: NautilusBridgeSettings) -> str:
    return f"{section.key_prefix}:offsets"


def answer_snapshot(
    client: redis.Redis, section: NautilusBridgeSettings, requester: str, metrics: BridgeMetrics
) -> int:
    """XADD every symbol's latest decision entry again; the number sent."""
    latest: dict[Any, Any] = client.hgetall(latest_key(section))
    pipe = client.pipeline(transaction=True)
    for symbol in sorted(latest):
        pipe.xadd(section.delivery_stream, decision_fields(latest[symbol], section.encoding))
    pipe.execute()
    metrics.snapshots.inc()
    return len(latest)


def decision_fields(value: bytes, encoding: str) -> dict[Any, Any]:
    """The entry fields of a stored latest decision: its payload (what deliveries.py stores), or
    the whole entry as `stored` wrote it before (a hash written by an older bridge)."""
    if value.startswith(b"topic="):
        return _fields(value)
    return entries.entry_fields(value, payloads.DECISION_TOPIC, payloads.DECISION_TYPE, encoding)


def stored(fields: dict[Any, Any]) -> bytes:
    """An entry's fields as one hash value (the format of older bridges, still read)."""
    return b"\x00".join(k.encode() + b"=" + v.hex().encode() for k, v in fields.items())


def _fields(value: bytes) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for part in value.split(b"\x00"):
        key, _, hexed = part.partition(b"=")
        out[key.decode()] = bytes.fromhex(hexed.decode())
    return out
