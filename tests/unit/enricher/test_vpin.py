"""VPIN against hand-computed values, and on real S&P 500 daily bars."""

from __future__ import annotations

import math
import statistics

import pytest

from workers.enricher import vpin
from workers.enricher.vpin import DAY_MS, VpinParams

PHI_1 = 0.8413447460685429  # standard normal CDF at 1
PHI_MINUS_2 = 0.022750131948179195  # ... at -2


def _fold_all(observations: list[tuple[int, float | None, float]], params: VpinParams) -> dict:
    state = vpin.empty()
    for ts_ms, log_return, volume in observations:
        state = vpin.fold(state, ts_ms, log_return, volume, params)
    return state


def test_hand_computed_series() -> None:
    # Buckets of 10, VPIN over the last 2, sigma's half-life one return (alpha = 0.5).
    params = VpinParams(buckets=2, bucket_volume=10.0, sigma_halflife=1)
    state = vpin.empty()
    # 1. No return yet: half buy, half sell; fills one bucket exactly, imbalance 0.
    state = vpin.fold(state, 0, None, 10.0, params)
    assert state["imbalances"] == [0.0] and vpin.vpin(state) == (0.0, 1)
    # 2. The first return has no sigma before it: still half and half; sigma^2 becomes 1e-4.
    state = vpin.fold(state, 1, 0.01, 5.0, params)
    assert state["var"] == pytest.approx(1e-4) and state["buy"] == state["sell"] == 2.5
    # 3. r / sigma = 1: Phi(1) of 10 is buy. 5 close the open bucket, 5 open the next.
    state = vpin.fold(state, 2, 0.01, 10.0, params)
    closed = abs((2.5 + 5 * PHI_1) - (2.5 + 5 * (1 - PHI_1))) / 10
    assert closed == pytest.approx(0.3413447460685429)
    assert state["imbalances"] == pytest.approx([0.0, closed])
    assert vpin.vpin(state)[0] == pytest.approx((0.0 + closed) / 2)
    assert state["buy"] == pytest.approx(5 * PHI_1) and state["sell"] == pytest.approx(5 * (1 - PHI_1))
    # 4. r / sigma = -2 with 25: 5 close the open bucket, 20 fill two whole buckets alone.
    state = vpin.fold(state, 3, -0.02, 25.0, params)
    spilled = abs((5 * PHI_1 + 5 * PHI_MINUS_2) - (5 * (1 - PHI_1) + 5 * (1 - PHI_MINUS_2))) / 10
    whole = 1 - 2 * PHI_MINUS_2
    assert spilled == pytest.approx(0.13590512)  # |4.32047 - 5.67953| / 10
    assert state["imbalances"] == pytest.approx([whole, whole])  # only the last n = 2 are kept
    assert vpin.vpin(state) == (pytest.approx(0.9544997361036416), 2)
    assert state["size"] is None  # 5 + 20 filled the buckets exactly: nothing open


def test_bucket_volume_is_the_average_daily_volume_over_buckets_per_day() -> None:
    params = VpinParams(buckets=10, buckets_per_day=2, adv_days=2, sigma_halflife=1)
    # Day 0 has no completed day before it: its volume is counted but not bucketed.
    state = _fold_all([(0, None, 100.0)], params)
    assert state["imbalances"] == [] and vpin.vpin(state) == (0.0, 0)
    # Day 1: ADV = 100, buckets of 50; 120 fills two and leaves 20 in an open bucket.
    state = _fold_all([(0, None, 100.0), (DAY_MS, 0.0, 120.0)], params)
    assert len(state["imbalances"]) == 2 and state["size"] == 50.0
    assert state["buy"] + state["sell"] == pytest.approx(20.0)
    # Day 2: ADV = mean(100, 120) = 110, so the next bucket to open holds 55.
    state = vpin.fold(state, 2 * DAY_MS, 0.0, 40.0, params)
    assert state["daily"] == [100.0, 120.0]
    assert len(state["imbalances"]) == 3 and state["size"] == 55.0
    assert state["buy"] + state["sell"] == pytest.approx(10.0)


def test_a_huge_observation_costs_at_most_n_buckets() -> None:
    state = _fold_all([(0, None, 1e12)], VpinParams(buckets=50, bucket_volume=1.0))
    assert len(state["imbalances"]) == 50 and vpin.vpin(state) == (0.0, 50)


def test_real_sp500_bars_stay_in_range_and_rise_in_the_2008_crash() -> None:
    from arch.data import sp500

    bars = sp500.load()
    state, previous, by_day = vpin.empty(), None, {}
    for when, row in bars.iterrows():
        close = float(row["Adj Close"])
        log_return = math.log(close / previous) if previous else None
        previous = close
        state = vpin.fold(state, int(when.value // 1_000_000), log_return, float(row["Volume"]), VpinParams())
        by_day[when] = vpin.vpin(state)
    values = [v for v, n in by_day.values() if n]
    assert values and all(0.0 <= v <= 1.0 for v in values)
    assert max(n for _, n in by_day.values()) == 50
    calm = statistics.median(v for when, (v, n) in by_day.items() if 2004 <= when.year <= 2006)
    crash = statistics.median(
        v for when, (v, n) in by_day.items() if when.year == 2008 and when.month in (9, 10, 11)
    )
    assert crash > calm + 0.1, (calm, crash)
