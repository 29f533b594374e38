"""A symbol's market state: what the enricher folds from market.buffer, in event time.

Trades and bars are first held as pending; a signal folds the pending ones stamped at or
before its own event time (in offset order), so an enrichment never sees a trade from after
its signal. When more than `max_pending` wait, the oldest are folded anyway (a signal older
than those is then late: its provenance says how far the state reached).

Folding keeps the last log returns (enough for the longest horizon) and the VPIN state, and
computes the market features then, so a signal reads them without rescanning anything
(docs/enrichment.md lists each feature's formula and window).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.enricher import vpin
from workers.enricher.vpin import VpinParams

MISSING = math.nan


@dataclass(frozen=True)
class MarketParams:
    return_horizons: tuple[int, ...] = (1, 5, 20)
    vol_horizons: tuple[int, ...] = (5, 20, 60)
    max_pending: int = 256
    vpin: VpinParams = field(default_factory=VpinParams)

    @property
    def window(self) -> int:
        return max(*self.return_horizons, *self.vol_horizons)

    def feature_names(self) -> list[str]:
        return [
            *(f"ret_{h}" for h in self.return_horizons),
            *(f"vol_{h}" for h in self.vol_horizons),
            "vpin",
            "vpin_buckets",
        ]


@dataclass(frozen=True)
class Observation:
    """A price and the volume traded at it, from a market.buffer record."""

    offset: int
    ts_ms: int
    price: float
    volume: float

    def as_list(self) -> list[float | int]:
        return [self.offset, self.ts_ms, self.price, self.volume]


def observation(offset: int, buffered: Mapping[str, Any]) -> Observation | None:
    """A trade's price and size or a bar's close and volume; None for anything else."""
    event = buffered["event"]
    kind = event["kind"]
    if kind == "TRADE" and event.get("trade"):
        price, volume = event["trade"]["price"], event["trade"]["size"]
    elif kind == "BAR" and event.get("bar"):
        price, volume = event["bar"]["close"], event["bar"]["volume"]
    else:
        return None
    if not (math.isfinite(price) and price > 0 and math.isfinite(volume) and volume >= 0):
        return None
    return Observation(offset, event["event_ts_ms"], float(price), float(volume))


def empty(params: MarketParams) -> dict[str, Any]:
    return {
        "pending": [],  # [offset, ts_ms, price, volume], offset order
        "price": None,  # the last folded price
        "returns": [],  # the last `window` log returns, oldest first
        "vpin": vpin.empty(),
        "folded_offset": -1,  # the last market.buffer offset folded
        "through_ms": None,  # the latest event time folded
        "features": dict.fromkeys(params.feature_names(), MISSING),
    }


def hold(state: Mapping[str, Any], obs: Observation, params: MarketParams) -> dict[str, Any]:
    """Hold one observation until a signal needs it; fold the oldest beyond max_pending."""
    pending = [*state["pending"], obs.as_list()]
    overflow = len(pending) - params.max_pending
    if overflow <= 0:
        return {**state, "pending": pending}
    return _fold({**state, "pending": pending[overflow:]}, pending[:overflow], params)


def catch_up(state: Mapping[str, Any], as_of_ms: int, params: MarketParams) -> dict[str, Any]:
    """Fold every pending observation stamped at or before `as_of_ms` (in offset order)."""
    due = [p for p in state["pending"] if p[1] <= as_of_ms]
    if not due:
        return dict(state)
    waiting = [p for p in state["pending"] if p[1] > as_of_ms]
    return _fold({**state, "pending": waiting}, due, params)


def _fold(state: dict[str, Any], due: list[list[Any]], params: MarketParams) -> dict[str, Any]:
    s = dict(state)
    returns = list(s["returns"])
    book = s["vpin"]
    for offset, ts_ms, price, volume in due:
        log_return = math.log(price / s["price"]) if s["price"] else None
        if log_return is not None:
            returns.append(log_return)
        book = vpin.fold(book, ts_ms, log_return, volume, params.vpin)
        s["price"] = price
        s["folded_offset"] = offset
        s["through_ms"] = ts_ms if s["through_ms"] is None else max(s["through_ms"], ts_ms)
    s["returns"] = returns[-params.window :]
    s["vpin"] = book
    s["features"] = _features(s["returns"], book, params)
    return s


def _features(returns: list[float], book: dict[str, Any], params: MarketParams) -> dict[str, float]:
    """ret_h = sum of the last h log returns = ln(p_t / p_{t-h}); vol_h = sqrt(sum of the last
    h squared log returns), the realised volatility; missing (NaN) until h returns exist."""
    out: dict[str, float] = {}
    for h in params.return_horizons:
        out[f"ret_{h}"] = math.fsum(returns[-h:]) if len(returns) >= h else MISSING
    for h in params.vol_horizons:
        out[f"vol_{h}"] = math.sqrt(math.fsum(r * r for r in returns[-h:])) if len(returns) >= h else MISSING
    toxicity, buckets = vpin.vpin(book)
    out["vpin"] = toxicity if buckets else MISSING
    out["vpin_buckets"] = float(buckets)
    return out
