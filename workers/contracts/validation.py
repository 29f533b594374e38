"""Semantic rules for RawMarketEvent beyond what the schema can say."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workers.contracts.errors import InvalidEvent

MEMBER_OF_KIND = {
    "TRADE": "trade",
    "QUOTE": "quote",
    "BAR": "bar",
    "SNAPSHOT_INPUTS": "snapshot_inputs",
}


def check_raw_event(event: Mapping[str, Any], *, min_ts_ms: int, max_ts_ms: int) -> None:
    """Raise InvalidEvent with a stable code for the first broken rule."""
    if not str(event.get("symbol", "")).strip():
        raise InvalidEvent("EMPTY_SYMBOL", "symbol is empty")
    if not str(event.get("event_id", "")).strip():
        raise InvalidEvent("EMPTY_EVENT_ID", "event_id is empty")
    ts = event["event_ts_ms"]
    if not min_ts_ms <= ts <= max_ts_ms:
        raise InvalidEvent("TIMESTAMP_OUT_OF_RANGE", f"event_ts_ms {ts} outside [{min_ts_ms}, {max_ts_ms}]")
    kind = event["kind"]
    present = [m for m in MEMBER_OF_KIND.values() if event.get(m) is not None]
    if present != [MEMBER_OF_KIND[kind]]:
        raise InvalidEvent(
            "KIND_MISMATCH",
            f"kind {kind} needs exactly member {MEMBER_OF_KIND[kind]!r}, got {present}",
        )
    member = event[MEMBER_OF_KIND[kind]]
    if kind == "TRADE":
        _positive("trade.price", member["price"])
        _non_negative("trade.size", member["size"])
    elif kind == "QUOTE":
        _positive("quote.bid_price", member["bid_price"])
        _positive("quote.ask_price", member["ask_price"])
        _non_negative("quote.bid_size", member["bid_size"])
        _non_negative("quote.ask_size", member["ask_size"])
        if member["bid_price"] > member["ask_price"]:
            raise InvalidEvent("CROSSED_QUOTE", f"bid {member['bid_price']} above ask {member['ask_price']}")
    elif kind == "BAR":
        check_bar("bar", member)
    else:
        window = member["window"]
        if not window:
            raise InvalidEvent("EMPTY_WINDOW", "snapshot_inputs.window has no bars")
        for i, bar in enumerate(window):
            check_bar(f"snapshot_inputs.window[{i}]", bar)
        if member["as_of_ts_ms"] > ts:
            raise InvalidEvent(
                "AS_OF_AFTER_EVENT",
                f"as_of_ts_ms {member['as_of_ts_ms']} is after event_ts_ms {ts}",
            )


def check_bar(where: str, bar: Mapping[str, Any]) -> None:
    for field in ("open", "high", "low", "close"):
        _positive(f"{where}.{field}", bar[field])
    _non_negative(f"{where}.volume", bar["volume"])
    if bar["high"] < bar["low"]:
        raise InvalidEvent("HIGH_BELOW_LOW", f"{where}: high {bar['high']} < low {bar['low']}")
    if not bar["low"] <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"]) <= bar["high"]:
        raise InvalidEvent("OUTSIDE_RANGE", f"{where}: open/close outside [low, high]")
    if bar["interval_ms"] <= 0:
        raise InvalidEvent("BAD_INTERVAL", f"{where}: interval_ms {bar['interval_ms']} is not positive")


def _positive(field: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidEvent("NON_FINITE", f"{field} is {value}")
    if value <= 0:
        raise InvalidEvent("NON_POSITIVE_PRICE", f"{field} is {value}, must be > 0")


def _non_negative(field: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidEvent("NON_FINITE", f"{field} is {value}")
    if value < 0:
        raise InvalidEvent("NEGATIVE_SIZE", f"{field} is {value}, must be >= 0")
