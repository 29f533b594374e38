"""Truth-mode classification of a Snapshot into TREND_UP, TREND_DOWN, RANGE or HIGH_VOLATILITY.

Over the window's log returns r (oldest first), with L = vol_lookback:
  vol_ratio   = std(last L returns) / std(all returns)       (realized vol vs its own history)
  drift_tstat = mean(last L) / (std(last L) / sqrt(L))        (trend relative to volatility)
  drawdown    = last close / max close - 1
Rules, first match wins:
  1. vol_ratio >= high_vol_ratio, or annualized recent vol >= vol_ceiling, or
     drawdown <= -drawdown_limit with vol_ratio >= 1: HIGH_VOLATILITY
  2. drift_tstat >= trend_threshold: TREND_UP; <= -trend_threshold: TREND_DOWN
  3. otherwise RANGE
Confidence is how far the deciding statistic is past (or, for RANGE, inside) its threshold,
squashed into [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from workers.regime.snapshot import Snapshot

ENGINE_VERSION = "regime-engine/1.0.0"
REGIMES = ("TREND_UP", "TREND_DOWN", "RANGE", "HIGH_VOLATILITY")


@dataclass(frozen=True)
class Params:
    trend_threshold: float = 0.5
    high_vol_ratio: float = 1.5
    vol_lookback: int = 20
    drawdown_limit: float = 0.2
    vol_ceiling: float = 0.45


@dataclass(frozen=True)
class RegimeOutput:
    regime: str
    confidence: float
    features: dict[str, float] = field(default_factory=dict)
    reason_codes: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        return {
            "regime": self.regime,
            "confidence": self.confidence,
            "features": dict(self.features),
            "reason_codes": list(self.reason_codes),
        }


def _squash(x: float) -> float:
    """Map a non-negative margin to a confidence in [0.5, 1)."""
    return 0.5 + 0.5 * math.tanh(max(x, 0.0))


def run(snapshot: Snapshot, params: Params = Params()) -> RegimeOutput:
    # libm's log, not numpy's: numpy's float64 log and exp take a SIMD path on CPUs with
    # AVX-512 whose last bit differs from the others', and a decision must be the same bits on
    # any node that computes or replays it.
    r = np.diff(np.array([math.log(c) for c in snapshot.close]))
    lookback = min(params.vol_lookback, len(r))
    recent = r[-lookback:]
    long_vol = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    recent_vol = float(np.std(recent, ddof=1)) if lookback > 1 else 0.0
    vol_ratio = recent_vol / long_vol if long_vol > 0 else 1.0
    drift_tstat = float(np.mean(recent) / (recent_vol / math.sqrt(lookback))) if recent_vol > 0 else 0.0
    drawdown = float(snapshot.close[-1] / np.max(snapshot.close) - 1.0)
    features = {
        "vol_ratio": round(vol_ratio, 12),
        "drift_tstat": round(drift_tstat, 12),
        "drawdown": round(drawdown, 12),
        "realized_vol": round(recent_vol * math.sqrt(252), 12),
        "bars": float(len(snapshot.close)),
    }
    if vol_ratio >= params.high_vol_ratio:
        margin = (vol_ratio - params.high_vol_ratio) / (params.high_vol_ratio - 1.0)
        return RegimeOutput("HIGH_VOLATILITY", _squash(margin), features, ["VOL_RATIO_HIGH"])
    if features["realized_vol"] >= params.vol_ceiling:
        margin = (features["realized_vol"] - params.vol_ceiling) / params.vol_ceiling
        return RegimeOutput("HIGH_VOLATILITY", _squash(margin), features, ["VOL_ABOVE_CEILING"])
    if drawdown <= -params.drawdown_limit and vol_ratio >= 1.0:
        margin = (-drawdown - params.drawdown_limit) / params.drawdown_limit
        return RegimeOutput("HIGH_VOLATILITY", _squash(margin), features, ["DEEP_DRAWDOWN", "VOL_RISING"])
    if abs(drift_tstat) >= params.trend_threshold:
        margin = (abs(drift_tstat) - params.trend_threshold) / params.trend_threshold
        regime = "TREND_UP" if drift_tstat > 0 else "TREND_DOWN"
        return RegimeOutput(
            regime,
            _squash(margin),
            features,
            ["DRIFT_POSITIVE" if drift_tstat > 0 else "DRIFT_NEGATIVE"],
        )
    return RegimeOutput(
        "RANGE",
        _squash(1.0 - abs(drift_tstat) / params.trend_threshold),
        features,
        ["DRIFT_INSIDE_BAND"],
    )
