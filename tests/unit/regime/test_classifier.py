from __future__ import annotations

import numpy as np
import pytest

from harness.demo.data import index_events
from workers.regime import build_snapshot, run
from workers.regime.snapshot import SnapshotError


def _window(closes):
    return {
        "as_of_ts_ms": 0,
        "window": [
            {
                "open": c,
                "high": c * 1.001,
                "low": c * 0.999,
                "close": c,
                "volume": 1.0,
                "interval_ms": 1,
            }
            for c in closes
        ],
    }


def _walk(drift, vol, n=60, seed=1, late_vol=None):
    rng = np.random.default_rng(seed)
    r = rng.normal(drift, vol, n)
    if late_vol is not None:
        r[-20:] = rng.normal(drift, late_vol, 20)
    return list(100 * np.exp(np.cumsum(r)))


@pytest.mark.parametrize(
    ("closes", "regime"),
    [
        (_walk(0.004, 0.005), "TREND_UP"),
        (_walk(-0.004, 0.005), "TREND_DOWN"),
        (_walk(0.0, 0.01, seed=3), "RANGE"),
        (_walk(0.0, 0.005, late_vol=0.03), "HIGH_VOLATILITY"),
    ],
)
def test_crafted_windows(closes, regime):
    out = run(build_snapshot(_window(closes)))
    assert out.regime == regime
    assert 0.0 <= out.confidence <= 1.0
    assert out.reason_codes and {"vol_ratio", "drift_tstat", "drawdown"} <= set(out.features)


def test_is_deterministic():
    snap = build_snapshot(_window(_walk(0.001, 0.01)))
    assert run(snap) == run(snap)


def test_autumn_2008_sp500_is_high_volatility_or_trend_down():
    snaps = [e for e in index_events("SPX", window=60) if e["kind"] == "SNAPSHOT_INPUTS"]
    autumn = [e for e in snaps if 1_222_819_200_000 <= e["event_ts_ms"] <= 1_227_916_800_000]  # Oct-Nov 2008
    regimes = {run(build_snapshot(e["snapshot_inputs"])).regime for e in autumn}
    assert autumn and regimes <= {"HIGH_VOLATILITY", "TREND_DOWN"}


def test_too_short_window_is_a_typed_error():
    with pytest.raises(SnapshotError):
        build_snapshot(_window([1.0, 2.0]))
