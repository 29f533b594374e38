"""The primary model whose signals are meta-labelled: the reference moving-average crossover.

For each symbol it keeps the last `slow` closes. When the fast mean (last `fast` closes) crosses
the slow mean, it signals: direction +1 when fast goes above slow, -1 when it goes below,
strength = |fast - slow| / slow * 100, and the feature `ma_spread` = (fast - slow) / slow. The
signal is stamped 1 ms after the bar that caused it, so the enricher's features include that
bar. Deterministic: the same bars give the same signals.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from typing import Any


def crossovers(events: Iterable[dict[str, Any]], fast: int = 5, slow: int = 20) -> Iterator[dict[str, Any]]:
    """SignalEvents for the BAR events, in their order."""
    closes: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=slow))
    above: dict[str, bool] = {}
    for event in events:
        if event["kind"] != "BAR":
            continue
        symbol, close = event["symbol"], event["bar"]["close"]
        window = closes[symbol]
        window.append(close)
        if len(window) < slow:
            continue
        fast_mean = sum(list(window)[-fast:]) / fast
        slow_mean = sum(window) / slow
        spread = (fast_mean - slow_mean) / slow_mean
        now_above = fast_mean > slow_mean
        if symbol in above and above[symbol] != now_above:
            yield {
                "signal_id": f"ma-{symbol}-{event['event_ts_ms']}",
                "strategy_id": f"ma-crossover-{fast}-{slow}",
                "symbol": symbol,
                "signal_ts_ms": event["event_ts_ms"] + 1,
                "direction": 1 if now_above else -1,
                "strength": abs(spread) * 100,
                "price": close,
                "features": {"ma_spread": spread},
            }
        above[symbol] = now_above
