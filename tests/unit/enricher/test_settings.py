"""The enricher's settings keep their own copy of the regimes (so settings load without the
engine's numpy): it must be the regime engine's list."""

from __future__ import annotations

from workers.enricher.settings import REGIMES
from workers.regime.classifier import REGIMES as ENGINE_REGIMES


def test_the_enricher_knows_the_engine_regimes_in_order() -> None:
    assert REGIMES == ENGINE_REGIMES
