"""What makes a SignalEvent unusable: each reason is a dead-letter code (docs/contracts.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def rejection(
    key: str | None,
    signal: Mapping[str, Any],
    *,
    required: Sequence[str],
    max_features: int,
    ts_bounds: tuple[int, int],
) -> tuple[str, str] | None:
    """(code, reason) when the signal cannot be enriched, else None."""
    symbol = signal["symbol"]
    if not symbol or not signal["signal_id"]:
        return "INVALID_SIGNAL", "signal_id and symbol must not be empty"
    if key != symbol:
        return "KEY_MISMATCH", f"record key {key!r} is not the signal's symbol {symbol!r}"
    if signal["direction"] not in (-1, 0, 1):
        return "INVALID_DIRECTION", f"direction {signal['direction']} is not -1, 0 or 1"
    price, strength = signal["price"], signal["strength"]
    if not (math.isfinite(price) and price > 0):
        return "INVALID_PRICE", f"price {price} is not a finite positive number"
    if not (math.isfinite(strength) and strength >= 0):
        return "INVALID_STRENGTH", f"strength {strength} is not a finite number >= 0"
    low, high = ts_bounds
    if not low <= signal["signal_ts_ms"] <= high:
        return "TIMESTAMP_OUT_OF_RANGE", f"signal_ts_ms {signal['signal_ts_ms']} is outside [{low}, {high}]"
    features = signal["features"]
    if len(features) > max_features:
        return "FEATURES_TOO_LARGE", f"{len(features)} features, more than {max_features}"
    bad = sorted(name for name, value in features.items() if not math.isfinite(value))
    if bad:
        return "FEATURES_INVALID", f"features {bad} are not finite"
    missing = [name for name in required if name not in features]
    if missing:
        return "FEATURES_MISSING", f"features {missing} are required (enricher.signal_features)"
    return None
