"""VPIN, the volume-synchronised probability of informed trading (Easley, López de Prado and
O'Hara, 2012), folded in one market observation at a time.

1. Bulk volume classification: an observation (a trade or a bar) with log return r and volume v
   counts v * Phi(r / sigma) as buy volume and the rest as sell volume, sigma being the
   exponentially weighted volatility of the returns before it (so nothing looks ahead).
2. Equal-volume buckets: volume fills buckets of size V; an observation larger than what is
   left of a bucket spills into the next ones, split in the same proportion. V is fixed by
   setting or is the average daily volume of the last completed days / buckets_per_day, taken
   when a bucket opens (volume before the first completed day is not bucketed).
3. VPIN = the mean of |buy - sell| / V over the last n completed buckets, in [0, 1].

The state is a plain dict (a store value); `fold` returns a new one and never mutates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class VpinParams:
    buckets: int = 50
    buckets_per_day: int = 50
    bucket_volume: float = 0.0  # fixed; 0: from the average daily volume
    adv_days: int = 20
    sigma_halflife: int = 50


def empty() -> dict[str, Any]:
    return {
        "var": None,  # EWMA variance of log returns
        "size": None,  # the open bucket's volume V
        "buy": 0.0,
        "sell": 0.0,
        "imbalances": [],  # |buy - sell| / V of the last n completed buckets, oldest first
        "day": None,
        "day_volume": 0.0,
        "daily": [],  # volumes of the last completed days, oldest first
    }


def buy_fraction(log_return: float | None, var: float | None) -> float:
    """Phi(r / sigma); 0.5 when either is unknown or sigma is zero."""
    if log_return is None or not var or var <= 0:
        return 0.5
    z = log_return / math.sqrt(var)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def fold(
    state: dict[str, Any], ts_ms: int, log_return: float | None, volume: float, params: VpinParams
) -> dict[str, Any]:
    """The state after one observation."""
    s = dict(state)
    share = buy_fraction(log_return, s["var"])
    if log_return is not None:
        alpha = 1.0 - 0.5 ** (1.0 / params.sigma_halflife)
        var = log_return * log_return
        s["var"] = var if s["var"] is None else (1.0 - alpha) * s["var"] + alpha * var
    _roll_day(s, ts_ms // DAY_MS, params)
    s["day_volume"] += volume
    imbalances = list(s["imbalances"])
    left = volume
    if s["size"] is not None and left > 0:  # top up the open bucket first
        left = _fill(s, imbalances, left, share)
    size = _bucket_volume(s, params) if left > 0 else None
    if size is not None:
        # Whole buckets this observation fills on its own all have the same imbalance; more
        # than n of them would only push the older ones out.
        whole = int(left // size)
        imbalances.extend([abs(2.0 * share - 1.0)] * min(whole, params.buckets))
        left -= whole * size
        if left > size * 1e-12:
            s["size"] = size
            _fill(s, imbalances, left, share)
    s["imbalances"] = imbalances[-params.buckets :]
    return s


def vpin(state: dict[str, Any]) -> tuple[float, int]:
    """(VPIN over the completed buckets kept, how many there are); (0.0, 0) before the first."""
    imbalances = state["imbalances"]
    if not imbalances:
        return 0.0, 0
    return min(max(math.fsum(imbalances) / len(imbalances), 0.0), 1.0), len(imbalances)


def _fill(s: dict[str, Any], imbalances: list[float], volume: float, share: float) -> float:
    """Add volume to the open bucket, closing it when full; what did not fit."""
    take = min(volume, s["size"] - s["buy"] - s["sell"])
    s["buy"] += take * share
    s["sell"] += take * (1.0 - share)
    if s["buy"] + s["sell"] >= s["size"] * (1.0 - 1e-12):
        imbalances.append(abs(s["buy"] - s["sell"]) / s["size"])
        s["buy"], s["sell"], s["size"] = 0.0, 0.0, None
    return float(max(volume - take, 0.0))


def _roll_day(s: dict[str, Any], day: int, params: VpinParams) -> None:
    if s["day"] is None:
        s["day"] = day
    elif day > s["day"]:
        s["daily"] = [*s["daily"], s["day_volume"]][-params.adv_days :]
        s["day"], s["day_volume"] = day, 0.0


def _bucket_volume(s: dict[str, Any], params: VpinParams) -> float | None:
    if params.bucket_volume > 0:
        return params.bucket_volume
    daily = [v for v in s["daily"] if v > 0]
    if not daily:
        return None
    return float(math.fsum(daily) / len(daily) / params.buckets_per_day)
