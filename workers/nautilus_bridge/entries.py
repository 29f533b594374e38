"""Redis stream entries in NautilusTrader's shape (1.221.0), to and from the fleet's records.

A node writes each bus publish as an entry whose fields are `topic` then `payload` (its reader
takes them by position), the payload a MsgSpecSerializer dict with `ts_*` as integer strings.
The bridge writes the same two fields first and adds `type` and `encoding` after them for
readers other than Nautilus. Pure: no Redis, no Kafka.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from workers.nautilus_bridge import payloads

ENCODINGS = ("msgpack", "json")


class MalformedEntry(ValueError):
    """A stream entry the bridge cannot turn into a SignalEvent: dead-lettered with `code`."""

    def __init__(self, code: str, reason: str, stream: str, entry_id: str) -> None:
        super().__init__(f"{stream} {entry_id}: {code}: {reason}")
        self.code, self.reason, self.stream, self.entry_id = code, reason, stream, entry_id


@dataclass(frozen=True)
class SnapshotAsk:
    """An Actor asking for the latest decision per symbol (its node started at "now")."""

    requester: str


def stream_key(trader_id: str, topic: str, streams_prefix: str = "stream") -> str:
    """The key a node with default MessageBusConfig (trader prefix and id, a stream per topic) writes `topic` to."""
    return f"trader-{trader_id}:{streams_prefix}:{topic}"


def signal_id(stream: str, entry_id: str) -> str:
    """The SignalEvent id of a stream entry: the same entry read twice gives the same id."""
    digest = hashlib.sha256(f"{stream}\n{entry_id}".encode()).hexdigest()[:24]
    return f"nt-{digest}"


def encode_payload(payload: Mapping[str, Any], encoding: str = "msgpack") -> bytes:
    """The `payload` field: the dict with ts_* as integer strings, as Nautilus's bus serializer writes it."""
    body = dict(payload)
    body["ts_event"], body["ts_init"] = str(payload["ts_event"]), str(payload["ts_init"])
    return msgspec.msgpack.encode(body) if encoding == "msgpack" else msgspec.json.encode(body)


def entry_fields(raw: bytes, topic: str, kind: str, encoding: str) -> dict[Any, Any]:
    """The fields of one XADD: `topic`, `payload` (in that order: Nautilus reads by position), `type`, `encoding`."""
    return {"topic": topic.encode(), "payload": raw, "type": kind.encode(), "encoding": encoding.encode()}


def encode_entry(payload: Mapping[str, Any], topic: str, encoding: str = "msgpack") -> dict[Any, Any]:
    """The fields of the XADD of a payload dict (entry_fields of its encode_payload)."""
    return entry_fields(encode_payload(payload, encoding), topic, str(payload["type"]), encoding)


def decode_payload(fields: Mapping[bytes, bytes], stream: str, entry_id: str) -> dict[str, Any]:
    """The payload dict of an entry (msgpack, else JSON), ts_* as ints; MalformedEntry otherwise."""
    if b"payload" not in fields or b"topic" not in fields:
        missing = [f for f in ("topic", "payload") if f.encode() not in fields]
        raise MalformedEntry("MISSING_FIELDS", f"no {missing} field", stream, entry_id)
    raw = fields[b"payload"]
    encoding = fields.get(b"encoding", b"").decode(errors="replace")
    decoded: Any = None
    for codec in ("json",) if encoding == "json" else ("msgpack", "json"):
        try:
            decoded = msgspec.msgpack.decode(raw) if codec == "msgpack" else json.loads(raw)
            break
        except (msgspec.DecodeError, ValueError, UnicodeDecodeError):
            continue
    if not isinstance(decoded, dict):
        raise MalformedEntry("BAD_PAYLOAD", "payload is neither a msgpack nor a JSON map", stream, entry_id)
    try:
        return {k: (int(v) if str(k).startswith("ts_") else v) for k, v in decoded.items()}
    except (TypeError, ValueError) as exc:
        raise MalformedEntry(
            "BAD_PAYLOAD", f"a ts_ field is not an integer: {exc}", stream, entry_id
        ) from exc


def parse_entry(fields: Mapping[bytes, bytes], stream: str, entry_id: str) -> dict[str, Any] | SnapshotAsk:
    """A SignalEvent (value of signals.raw) from a TradingSignal entry, or a SnapshotAsk."""
    body = decode_payload(fields, stream, entry_id)
    kind = body.get("type")
    if kind == payloads.SNAPSHOT_REQUEST_TYPE:
        return SnapshotAsk(str(body.get("requester", "")))
    if kind != payloads.SIGNAL_TYPE:
        raise MalformedEntry(
            "WRONG_TYPE", f"type {kind!r}, expected {payloads.SIGNAL_TYPE}", stream, entry_id
        )
    try:
        direction = int(body["direction"])
        price = float(body["price"])
        signal: dict[str, Any] = {
            "signal_id": signal_id(stream, entry_id),
            "strategy_id": _text(body["strategy_id"]),
            "symbol": _text(body["symbol"]),
            "signal_ts_ms": int(body["ts_event"]) // payloads.NS_PER_MS,
            "direction": direction,
            "strength": float(body.get("strength", 1.0)),
            "price": price,
            "features": {str(k): float(v) for k, v in dict(body.get("features") or {}).items()},
        }
    except KeyError as exc:
        raise MalformedEntry("MISSING_FIELDS", f"TradingSignal without {exc}", stream, entry_id) from exc
    except (TypeError, ValueError) as exc:
        raise MalformedEntry(
            "BAD_PAYLOAD", f"TradingSignal field of the wrong type: {exc}", stream, entry_id
        ) from exc
    if direction not in (-1, 0, 1) or not signal["symbol"] or not price > 0:
        raise MalformedEntry(
            "BAD_PAYLOAD",
            f"direction {direction} not in -1/0/1, empty symbol or price <= 0",
            stream,
            entry_id,
        )
    return signal


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def min_id(now_ms: int, retention_ms: int) -> str:
    """The MINID below which entries are older than the retention (XADD ... MINID ~ <id>)."""
    return f"{max(now_ms - retention_ms, 0)}-0"
