"""Semantic rules for RawMarketEvent beyond what the schema can say.

Events reach here decoded (schema-shaped) or from JSON (any shape): a field of the wrong type
is rejected as MALFORMED like any other broken rule, never raised as a TypeError.
"""

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
INF = math.inf


def check_raw_event(event: Mapping[str, Any], *, min_ts_ms: int, max_ts_ms: int) -> None:
    """Raise InvalidEvent with a stable code for the first broken rule."""
    event = _typed("", "event", event, Mapping)
    if not _typed("", "symbol", event.get("symbol"), str).strip():
        raise InvalidEvent("EMPTY_SYMBOL", "symbol is empty")
    if not _typed("", "event_id", event.get("event_id"), str).strip():
        raise InvalidEvent("EMPTY_EVENT_ID", "event_id is empty")
    ts = _typed("", "event_ts_ms", event.get("event_ts_ms"), int)
    if not min_ts_ms <= ts <= max_ts_ms:
        raise InvalidEvent("TIMESTAMP_OUT_OF_RANGE", f"event_ts_ms {ts} outside [{min_ts_ms}, {max_ts_ms}]")
    kind = _typed("", "kind", event.get("kind"), str)
    if kind not in MEMBER_OF_KIND:
        raise InvalidEvent("UNKNOWN_KIND", f"kind {kind!r} is not one of {sorted(MEMBER_OF_KIND)}")
    present = [m for m in MEMBER_OF_KIND.values() if event.get(m) is not None]
    if present != [MEMBER_OF_KIND[kind]]:
        raise InvalidEvent(
            "KIND_MISMATCH",
            f"kind {kind} needs exactly member {MEMBER_OF_KIND[kind]!r}, got {present}",
        )
    member = _typed("", MEMBER_OF_KIND[kind], event[MEMBER_OF_KIND[kind]], Mapping)
    if kind == "TRADE":
        _positive("trade", "price", member.get("price"))
        _non_negative("trade", "size", member.get("size"))
    elif kind == "QUOTE":
        bid = _positive("quote", "bid_price", member.get("bid_price"))
        ask = _positive("quote", "ask_price", member.get("ask_price"))
        _non_negative("quote", "bid_size", member.get("bid_size"))
        _non_negative("quote", "ask_size", member.get("ask_size"))
        if bid > ask:
            raise InvalidEvent("CROSSED_QUOTE", f"bid {bid} above ask {ask}")
    elif kind == "BAR":
        check_bar("bar", member)
    else:
        window = _typed("snapshot_inputs", "window", member.get("window"), list)
        if not window:
            raise InvalidEvent("EMPTY_WINDOW", "snapshot_inputs.window has no bars")
        for i, bar in enumerate(window):
            check_bar(f"snapshot_inputs.window[{i}]", bar)
        as_of = _typed("snapshot_inputs", "as_of_ts_ms", member.get("as_of_ts_ms"), int)
        if as_of > ts:
            raise InvalidEvent("AS_OF_AFTER_EVENT", f"as_of_ts_ms {as_of} is after event_ts_ms {ts}")


def check_bar(where: str, bar: Mapping[str, Any]) -> None:
    bar = _typed(where, "", bar, Mapping)
    o = _positive(where, "open", bar.get("open"))
    h = _positive(where, "high", bar.get("high"))
    lo = _positive(where, "low", bar.get("low"))
    c = _positive(where, "close", bar.get("close"))
    _non_negative(where, "volume", bar.get("volume"))
    if h < lo:
        raise InvalidEvent("HIGH_BELOW_LOW", f"{where}: high {h} < low {lo}")
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise InvalidEvent("OUTSIDE_RANGE", f"{where}: open/close outside [low, high]")
    interval = _typed(where, "interval_ms", bar.get("interval_ms"), int)
    if interval <= 0:
        raise InvalidEvent("BAD_INTERVAL", f"{where}: interval_ms {interval} is not positive")


def _typed(where: str, field: str, value: Any, kind: type) -> Any:
    """value when it has the schema's type (a bool is no int), else MALFORMED."""
    if type(value) is kind or (kind is Mapping and type(value) is dict):  # the usual case, fast
        return value
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    path = ".".join(p for p in (where, field) if p)
    raise InvalidEvent(
        "MALFORMED", f"{path} is {type(value).__name__}, not {kind.__name__}: fix the producer"
    )


def _number(where: str, field: str, value: Any) -> float:
    """value as a float; an int counts (JSON writes 10 for 10.0) when a double holds it."""
    if isinstance(value, float):
        return value
    try:
        return float(_typed(where, field, value, int))
    except OverflowError:
        raise InvalidEvent("NON_FINITE", f"{where}.{field} is beyond the range of a double") from None


def _positive(where: str, field: str, value: Any) -> float:
    number = value if type(value) is float else _number(where, field, value)
    if 0 < number < INF:
        return number
    if not math.isfinite(number):
        raise InvalidEvent("NON_FINITE", f"{where}.{field} is {number}")
    raise InvalidEvent("NON_POSITIVE_PRICE", f"{where}.{field} is {number}, must be > 0")


def _non_negative(where: str, field: str, value: Any) -> float:
    number = value if type(value) is float else _number(where, field, value)
    if 0 <= number < INF:
        return number
    if not math.isfinite(number):
        raise InvalidEvent("NON_FINITE", f"{where}.{field} is {number}")
    raise InvalidEvent("NEGATIVE_SIZE", f"{where}.{field} is {number}, must be >= 0")
