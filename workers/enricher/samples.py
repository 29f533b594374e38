"""Records in the enricher's input contracts, for tests, the bench, the demo and training's
in-memory enrichment."""

from __future__ import annotations

from typing import Any

from workers.contracts.buffer import buffered


def bar_record(symbol: str, ts_ms: int, close: float, volume: float, seq: int = 0) -> dict[str, Any]:
    """A RawInputBufferRecord holding one bar (as ingest writes it to market.buffer)."""
    bar = {
        "open": close,
        "high": close,
        "low": close,
        "close": close,
        "volume": volume,
        "interval_ms": 60_000,
    }
    event = {
        "event_id": f"{symbol}-bar-{ts_ms}",
        "symbol": symbol,
        "event_ts_ms": ts_ms,
        "kind": "BAR",
        "trade": None,
        "quote": None,
        "bar": bar,
        "snapshot_inputs": None,
        "source": "samples",
    }
    return buffered(event, seq)


def signal(
    symbol: str, ts_ms: int, *, direction: int = 1, seq: int = 0, ma_spread: float = 0.01, **fields: Any
) -> dict[str, Any]:
    """A SignalEvent of the reference strategy's shape."""
    return {
        "signal_id": f"{symbol}-sig-{seq}",
        "strategy_id": "samples",
        "symbol": symbol,
        "signal_ts_ms": ts_ms,
        "direction": direction,
        "strength": 1.0,
        "price": 100.0,
        "features": {"ma_spread": ma_spread},
        **fields,
    }
