"""Regime weight: how much of a signal's size its symbol's regime allows, in [0, 1].

    weight = base[regime][side] + (1 - confidence) * (1 - base[regime][side])

`base` is the full-confidence weight of a long or short signal in a regime (setting
`enricher.regime_weights`; a flat signal's base is 1). At confidence 0 the regime tells
nothing and the weight is 1; as confidence grows the weight moves linearly to the base, so it
is monotone in confidence (never increasing) and lies between the base and 1. A symbol with
no regime yet weighs `enricher.unknown_regime_weight`.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.enricher.settings import SideWeights


def regime_weight(
    regime: str | None,
    confidence: float,
    direction: int,
    bases: Mapping[str, SideWeights],
    unknown: float,
) -> float:
    if regime is None or regime not in bases:
        return unknown
    if direction == 0:
        return 1.0
    side = bases[regime]
    base = side.long if direction > 0 else side.short
    c = min(max(confidence, 0.0), 1.0)
    return min(max(base + (1.0 - c) * (1.0 - base), 0.0), 1.0)
