"""The meta-model's input row: one fixed, documented list of features (docs/enrichment.md).

    direction, strength                      the signal's own fields
    ret_<h>, vol_<h>, vpin, vpin_buckets     the symbol's market state (workers/enricher/market.py)
    regime_<name> (one-hot), regime_confidence, regime_age_s
    sig_<name>                               the signal's features map, entries the settings name

A missing value (too little history, no regime yet) is NaN, which XGBoost treats as missing.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workers.enricher.market import MISSING
from workers.enricher.regimes import RegimeAsOf
from workers.enricher.settings import REGIMES


@dataclass(frozen=True)
class FeatureSpace:
    market_names: tuple[str, ...]
    signal_features: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [
            "direction",
            "strength",
            *self.market_names,
            *(f"regime_{r.lower()}" for r in REGIMES),
            "regime_confidence",
            "regime_age_s",
            *(f"sig_{name}" for name in self.signal_features),
        ]

    def row(self, signal: Mapping[str, Any], market: Mapping[str, float], regime: RegimeAsOf) -> list[float]:
        age = MISSING
        if regime.since_ms is not None:
            age = max(signal["signal_ts_ms"] - regime.since_ms, 0) / 1000.0
        return [
            float(signal["direction"]),
            float(signal["strength"]),
            *(market[name] for name in self.market_names),
            *(1.0 if regime.regime == r else 0.0 for r in REGIMES),
            regime.confidence if regime.known else MISSING,
            age,
            *(float(signal["features"][name]) for name in self.signal_features),
        ]


def packed(row: Sequence[float]) -> bytes:
    """The row as little-endian doubles, every NaN as one NaN: equal rows, equal bytes."""
    return struct.pack(f"<{len(row)}d", *(math.nan if math.isnan(v) else v for v in row))


def row_hash(names: Sequence[str], row: Sequence[float]) -> str:
    """sha256 over the names (comma-joined) and the packed row."""
    digest = hashlib.sha256(",".join(names).encode())
    digest.update(packed(row))
    return digest.hexdigest()


def present(names: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    """The row as a map without its missing values."""
    return {name: value for name, value in zip(names, row, strict=True) if not math.isnan(value)}
