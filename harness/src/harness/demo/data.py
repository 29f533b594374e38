"""Market data for the demo, tests and benchmarks: real daily index series shipped in the
`arch` package, and a seeded synthetic intraday set. No downloads."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

DAY_MS = 86_400_000
CLOSE_OFFSET_MS = 16 * 3_600_000  # bars are stamped at the 16:00 UTC close


def _bar(o: float, h: float, lo: float, c: float, v: float, interval_ms: int) -> dict[str, Any]:
    return {
        "open": float(o),
        "high": float(h),
        "low": float(lo),
        "close": float(c),
        "volume": float(v),
        "interval_ms": interval_ms,
    }


def index_events(symbol: str, days: int | None = None, window: int = 60) -> Iterator[dict[str, Any]]:
    """One BAR and one SNAPSHOT_INPUTS (the last `window` bars) per trading day, from the first
    day with a full window (the warm-up days only fill the window)."""
    from arch.data import nasdaq, sp500

    frame = {"SPX": sp500, "NDX": nasdaq}[symbol].load()
    if days is not None:
        frame = frame.iloc[-(days + window) :]
    bars: list[dict[str, Any]] = []
    for ts, row in frame.iterrows():
        lo = min(row.Low, row.Open, row.Close)
        hi = max(row.High, row.Open, row.Close)
        bar = _bar(row.Open, hi, lo, row.Close, row.Volume, DAY_MS)
        bars.append(bar)
        event_ts = int(ts.value // 1_000_000) + CLOSE_OFFSET_MS
        day = ts.strftime("%Y-%m-%d")
        if len(bars) >= window:
            yield _event(f"{symbol}-{day}-bar", symbol, event_ts, "BAR", bar=bar, source="arch")
            snap = {"as_of_ts_ms": event_ts, "window": bars[-window:]}
            yield _event(
                f"{symbol}-{day}-snap",
                symbol,
                event_ts,
                "SNAPSHOT_INPUTS",
                snapshot_inputs=snap,
                source="arch",
            )


def synthetic_intraday(
    symbols: int,
    events_per_symbol: int,
    *,
    seed: int = 7,
    step_ms: int = 1_000,
    snapshot_every: int = 60,
    window: int = 30,
    start_ms: int = 1_700_000_000_000,
) -> list[dict[str, Any]]:
    """Seeded TRADE/QUOTE flow per symbol, a BAR and a SNAPSHOT_INPUTS every `snapshot_every` events;
    interleaved across symbols in event-time order."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for s in range(symbols):
        symbol = f"SYN{s:03d}"
        price = 100.0 + 10 * s
        vol = 0.0005 * (1 + s % 3)
        bars: list[dict[str, Any]] = []
        o = hi = lo = price
        for i in range(events_per_symbol):
            ts = start_ms + i * step_ms
            # math.exp: numpy's exp differs in the last bit on CPUs with AVX-512, and the
            # seeded data must be the same bits on every machine (tests pin its digests)
            price *= math.exp(rng.normal(0.00002 * ((s % 3) - 1), vol))
            hi, lo = max(hi, price), min(lo, price)
            if i % 4 == 3:
                spread = price * 0.0001
                out.append(
                    _event(
                        f"{symbol}-{i}",
                        symbol,
                        ts,
                        "QUOTE",
                        quote={
                            "bid_price": price - spread,
                            "bid_size": 100.0,
                            "ask_price": price + spread,
                            "ask_size": 100.0,
                        },
                    )
                )
            else:
                out.append(
                    _event(
                        f"{symbol}-{i}",
                        symbol,
                        ts,
                        "TRADE",
                        trade={
                            "price": price,
                            "size": float(rng.integers(1, 500)),
                            "side": "BUY" if rng.random() < 0.5 else "SELL",
                        },
                    )
                )
            if i % snapshot_every == snapshot_every - 1:
                bar = _bar(o, hi, lo, price, 1000.0, snapshot_every * step_ms)
                bars.append(bar)
                out.append(_event(f"{symbol}-{i}-bar", symbol, ts, "BAR", bar=bar))
                if len(bars) >= 5:
                    out.append(
                        _event(
                            f"{symbol}-{i}-snap",
                            symbol,
                            ts,
                            "SNAPSHOT_INPUTS",
                            snapshot_inputs={"as_of_ts_ms": ts, "window": bars[-window:]},
                        )
                    )
                o = hi = lo = price
    out.sort(key=lambda e: (e["event_ts_ms"], e["symbol"]))
    return out


def _event(
    event_id: str,
    symbol: str,
    ts: int,
    kind: str,
    *,
    trade: Any = None,
    quote: Any = None,
    bar: Any = None,
    snapshot_inputs: Any = None,
    source: str = "synthetic",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "symbol": symbol,
        "event_ts_ms": ts,
        "kind": kind,
        "trade": trade,
        "quote": quote,
        "bar": bar,
        "snapshot_inputs": snapshot_inputs,
        "source": source,
    }
