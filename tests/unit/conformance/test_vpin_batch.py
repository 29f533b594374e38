"""Online equals offline (a): the enricher's streaming VPIN, folded one observation at a time
through its market state, equals a batch reference of the same definition to 1e-12, on the
shipped S&P 500 and NASDAQ daily bars and on seeded ticks.

The reference shares no code with workers/enricher/vpin.py. It works on the whole series at
once in exact rational arithmetic: bulk volume classification gives each observation a buy
share; cumulative volume C and cumulative buy volume B are piecewise linear in each other;
bucket j is the volume interval [jV, (j+1)V), its buy volume B((j+1)V) - B(jV), its
imbalance |2 buy - V| / V; VPIN after an observation is the mean imbalance of the last n
buckets its cumulative volume has completed.
"""

from __future__ import annotations

import bisect
import itertools
import math
from fractions import Fraction

import pytest

from harness.demo.data import index_events, synthetic_intraday
from workers.enricher import market
from workers.enricher.market import MarketParams
from workers.enricher.vpin import VpinParams

N, HALFLIFE = 50, 50


def streaming(observations: list[tuple[int, float, float]], bucket_volume: float) -> list[float]:
    """VPIN after each observation, as the enricher computes it (NaN before the first bucket)."""
    params = MarketParams(vpin=VpinParams(buckets=N, bucket_volume=bucket_volume, sigma_halflife=HALFLIFE))
    state = market.empty(params)
    out = []
    for offset, (ts, price, volume) in enumerate(observations):
        state = market.hold(state, market.Observation(offset, ts, price, volume), params)
        state = market.catch_up(state, ts, params)
        out.append(state["features"]["vpin"])
    return out


def reference(observations: list[tuple[int, float, float]], bucket_volume: float) -> list[float]:
    """The batch definition, exact: VPIN after each observation (NaN before the first bucket)."""
    prices = [p for _, p, _ in observations]
    returns = [None] + [math.log(b / a) for a, b in itertools.pairwise(prices)]
    alpha = 1.0 - 0.5 ** (1.0 / HALFLIFE)
    shares, variance = [], None  # sigma of the returns before each observation (EWMA)
    for r in returns:
        if r is None or not variance:
            shares.append(Fraction(1, 2))
        else:
            shares.append(Fraction(0.5 * (1.0 + math.erf(r / math.sqrt(variance) / math.sqrt(2.0)))))
        if r is not None:
            variance = r * r if variance is None else (1.0 - alpha) * variance + alpha * r * r
    v = Fraction(bucket_volume)
    cumulative, bought = [Fraction(0)], [Fraction(0)]
    for (_, _, volume), share in zip(observations, shares, strict=True):
        cumulative.append(cumulative[-1] + Fraction(volume))
        bought.append(bought[-1] + share * Fraction(volume))

    def buy_at(x: Fraction) -> Fraction:  # B as a function of cumulative volume
        i = max(bisect.bisect_left(cumulative, x), 1)
        return bought[i - 1] + shares[i - 1] * (x - cumulative[i - 1])

    completed = int(cumulative[-1] // v)
    boundaries = [buy_at(v * j) for j in range(completed + 1)]
    imbalances = [abs(2 * (boundaries[j + 1] - boundaries[j]) - v) / v for j in range(completed)]
    out = []
    for c in cumulative[1:]:
        k = int(c // v)
        last = imbalances[max(k - N, 0) : k]
        out.append(float(sum(last) / len(last)) if last else math.nan)
    return out


def agree(observations: list[tuple[int, float, float]], bucket_volume: float) -> int:
    live, batch = streaming(observations, bucket_volume), reference(observations, bucket_volume)
    assert len(live) == len(batch)
    for i, (a, b) in enumerate(zip(live, batch, strict=True)):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12, (i, a, b)
    return sum(1 for b in batch if not math.isnan(b))


@pytest.mark.parametrize("symbol", ["SPX", "NDX"])
def test_streaming_vpin_equals_the_batch_reference_on_index_bars(symbol: str) -> None:
    bars = [e for e in index_events(symbol, days=1500) if e["kind"] == "BAR"]
    observations = [(e["event_ts_ms"], e["bar"]["close"], e["bar"]["volume"]) for e in bars]
    # about 3 buckets a day, so bars spill over bucket boundaries and fill whole buckets alone
    bucket = sorted(v for _, _, v in observations)[len(observations) // 2] / 3
    scored = agree(observations, bucket)
    assert scored > len(observations) - 5


def test_streaming_vpin_equals_the_batch_reference_on_seeded_ticks() -> None:
    events = synthetic_intraday(1, 8_000, seed=5)
    observations = [
        (e["event_ts_ms"], e["trade"]["price"], e["trade"]["size"]) for e in events if e["kind"] == "TRADE"
    ]
    scored = agree(observations, 1000.0)  # trades of 1-500: each bucket takes several
    assert scored > len(observations) * 0.9
