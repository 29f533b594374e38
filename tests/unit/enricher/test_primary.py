"""The demo's reference strategy: a moving-average crossover, deterministic."""

from __future__ import annotations

from workers.meta_model.primary import crossovers


def _bars(closes: list[float], symbol: str = "S") -> list[dict]:
    return [
        {"kind": "BAR", "symbol": symbol, "event_ts_ms": 1000 * i, "bar": {"close": c}}
        for i, c in enumerate(closes)
    ]


def test_signals_on_each_cross_and_only_then() -> None:
    closes = [10.0] * 4 + [11.0, 12.0, 13.0] + [9.0, 8.0, 7.0, 6.0]  # up, then down
    signals = list(crossovers(_bars(closes), fast=2, slow=4))
    # Flat at first (fast == slow: not above); up at the first rise, down once it falls.
    assert [s["direction"] for s in signals] == [1, -1]
    up, down = signals
    assert up["signal_ts_ms"] == 1000 * 4 + 1
    assert down["signal_ts_ms"] == 1000 * 7 + 1 and down["features"]["ma_spread"] < 0
    assert down["strength"] == abs(down["features"]["ma_spread"]) * 100
    assert list(crossovers(_bars(closes), fast=2, slow=4)) == signals


def test_symbols_are_independent() -> None:
    mixed = [
        e
        for pair in zip(
            _bars([1.0, 2.0, 3.0, 1.0, 0.5], "A"), _bars([3.0, 2.0, 1.0, 3.0, 5.0], "B"), strict=True
        )
        for e in pair
    ]
    by_symbol = {s["symbol"]: s["direction"] for s in crossovers(mixed, fast=1, slow=2)}
    assert by_symbol == {"A": -1, "B": 1}
