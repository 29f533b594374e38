"""The challenger-cost bench (n) measures what it says: both cores enrich every signal of the
stream, only the one with a challenger writes a ShadowScore per signal, and every signal is
scored in its batch's call (a lone prediction per signal would measure something else). With
store views kept through a batch, as the worker keeps them, each row is computed once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.bench.enricher import _Core, shadow_stream
from workers.config import load_settings
from workers.enricher.features import FeatureSpace
from workers.enricher.processor import EnricherProcessor
from workers.meta_model import LoadedModel, model_record, train_booster
from workers.processing import Record


def models(names: list[str]) -> list[Record]:
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(300, len(names)))
    found = []
    for offset, (version, status) in enumerate((("c1", "live"), ("x1", "challenger"))):
        booster = train_booster(rows, (rows[:, offset] > 0).astype(int), names, rounds=5, max_depth=2)
        value: dict[str, Any] = model_record(
            booster, name="meta", version=version, trained_ts_ms=1, feature_names=names, status=status
        )
        found.append(Record("models", 0, offset, "meta" if status == "live" else "meta:challenger", value))
    return found


def test_the_stream_and_the_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(partitions=1)
    champion, challenger = models(EnricherProcessor(settings).feature_names)
    warm, timed = shadow_stream(1_000)
    assert len(warm) == 100 * 20 and {r.topic for r in warm} == {"market.buffer"}
    assert sum(r.topic == "signals.raw" for r in timed) == 1_000
    assert timed[0].topic == "market.buffer"  # a block's bars come before its signals
    alone: list[list[float]] = []
    predict, row = LoadedModel.predict, FeatureSpace.row
    monkeypatch.setattr(LoadedModel, "predict", lambda self, r: alone.append(r) or predict(self, r))
    rows: list[int] = []
    monkeypatch.setattr(FeatureSpace, "row", lambda self, *a: rows.append(1) or row(self, *a))
    cores = [_Core(settings, [champion, *warm]), _Core(settings, [champion, challenger, *warm])]
    alone.clear()
    written = [
        [topic for at in range(0, len(timed), 500) for topic, _ in core.batch(timed[at : at + 500])]
        for core in cores
    ]
    assert alone == [] and len(rows) == 2 * 1_000
    assert written[0] == ["signals.enriched"] * 1_000
    assert sorted(written[1]) == ["signals.enriched"] * 1_000 + ["signals.shadow"] * 1_000
