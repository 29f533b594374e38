"""The enricher core through the in-memory driver: one enriched event per valid signal,
event-time joins, bad input dead-lettered, model swaps verified, restores that score alike."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.samples import CountingMetrics, regime_event
from workers.config import load_settings
from workers.enricher.features import row_hash
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import bar_record, signal
from workers.meta_model import LoadedModel, model_record, train_booster
from workers.meta_model.calibration import Calibration
from workers.processing import Edges, Record
from workers.processing.driver import Driver
from workers.topology import load_topology

T0 = 1_600_000_000_000
MINUTE = 60_000
PLATT = Calibration("platt", a=0.5, b=0.2)  # a map that changes every score


@pytest.fixture(scope="module")
def names() -> list[str]:
    return EnricherProcessor(load_settings(partitions=1)).feature_names


@pytest.fixture(scope="module")
def booster(names: list[str]) -> bytes:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(400, len(names)))
    return train_booster(features, (features[:, 2] > 0).astype(int), names, rounds=20, max_depth=3)


def driver(metrics: CountingMetrics | None = None, **enricher: Any) -> Driver:
    settings = load_settings(partitions=1, enricher=enricher)
    d = Driver(load_topology(1))
    d.processors["enricher"] = EnricherProcessor(
        settings, Edges(reads=d, metrics=metrics or CountingMetrics())
    )
    return d


def bars(d: Driver, symbol: str = "S", count: int = 30, start: int = T0) -> None:
    price = 100.0
    for i in range(count):
        price *= math.exp(0.01 * math.sin(i))
        d.feed("market.buffer", symbol, bar_record(symbol, start + i * MINUTE, price, 1000.0), partition=0)


def enriched(d: Driver) -> list[dict[str, Any]]:
    return [dict(r.value) for r in d.received("signals.enriched")]


def dlq_codes(d: Driver) -> list[str]:
    return [str(r.headers["error_code"]) for r in d.received("fleet.dlq")]


def test_cold_start_enriches_with_confidence_one_half_and_no_model() -> None:
    d = driver()
    bars(d)
    d.feed("signals.raw", "S", signal("S", T0 + 29 * MINUTE), partition=0)
    (event,) = enriched(d)
    assert event["meta_confidence"] == 0.5 and event["model_version"] == "none"
    assert event["regime"] == "UNKNOWN" and event["regime_weight"] == 0.5  # the documented weight
    assert event["provenance"]["model_sha256"] == "" and event["provenance"]["folded_offset"] == 29
    assert event["feature_values"]["ret_1"] == pytest.approx(math.log(1.0) + 0.01 * math.sin(29))


def test_a_signal_sees_only_market_data_up_to_its_event_time() -> None:
    d = driver()
    bars(d, count=30)
    d.feed("signals.raw", "S", signal("S", T0 + 9 * MINUTE, seq=1), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 19 * MINUTE, seq=2), partition=0)
    first, second = enriched(d)
    assert (
        first["provenance"]["folded_offset"] == 9
        and first["provenance"]["market_through_ms"] == T0 + 9 * MINUTE
    )
    assert second["provenance"]["folded_offset"] == 19
    assert first["provenance"]["buffer_offset"] == second["provenance"]["buffer_offset"] == 29
    assert first["feature_values"]["ret_5"] == pytest.approx(sum(0.01 * math.sin(i) for i in range(5, 10)))


def test_the_regime_as_of_the_signal_and_its_weight() -> None:
    d = driver()
    bars(d)
    d.feed("regime.events", "S", regime_event(T0 + 5 * MINUTE, "TREND_UP", 0.8), partition=0)
    d.feed("regime.events", "S", regime_event(T0 + 10 * MINUTE, "TREND_UP", 0.6), partition=0)
    d.feed("regime.events", "S", regime_event(T0 + 20 * MINUTE, "TREND_DOWN", 1.0), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 15 * MINUTE, seq=1, direction=1), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 25 * MINUTE, seq=2, direction=1), partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 25 * MINUTE, seq=3, direction=-1), partition=0)
    up, down_long, down_short = enriched(d)
    assert up["regime"] == "TREND_UP" and up["regime_confidence"] == 0.6
    assert up["feature_values"]["regime_age_s"] == 10 * 60  # TREND_UP since minute 5
    assert up["regime_weight"] == pytest.approx(1 - 0.6 * (1 - 1.0))
    assert down_long["regime"] == "TREND_DOWN" and down_long["regime_weight"] == pytest.approx(0.3)
    assert down_short["regime_weight"] == 1.0
    assert up["provenance"]["regime_event_id"] == regime_event(T0 + 10 * MINUTE, "TREND_UP", 0.6)["event_id"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"direction": 2}, "INVALID_DIRECTION"),
        ({"price": math.nan}, "INVALID_PRICE"),
        ({"price": math.inf}, "INVALID_PRICE"),
        ({"price": -1.0}, "INVALID_PRICE"),
        ({"strength": math.inf}, "INVALID_STRENGTH"),
        ({"features": {}}, "FEATURES_MISSING"),
        ({"features": {"ma_spread": math.nan}}, "FEATURES_INVALID"),
        ({"features": {f"f{i}": 0.0 for i in range(65)}}, "FEATURES_TOO_LARGE"),
        ({"symbol": "NOBODY"}, "KEY_MISMATCH"),
        ({"signal_ts_ms": 0}, "TIMESTAMP_OUT_OF_RANGE"),
    ],
)
def test_bad_signals_are_dead_lettered_and_the_next_is_enriched(change: dict[str, Any], code: str) -> None:
    metrics = CountingMetrics()
    d = driver(metrics)
    bars(d)
    d.feed("signals.raw", "S", {**signal("S", T0), **change}, partition=0)
    d.feed("signals.raw", "S", signal("S", T0, seq=2), partition=0)
    assert dlq_codes(d) == [code]
    assert [e["signal"]["signal_id"] for e in enriched(d)] == ["S-sig-2"]
    assert metrics.counts["signals_rejected"] == 1 and metrics.counts["signals_enriched"] == 1


def test_a_symbol_without_market_data_is_unknown() -> None:
    d = driver()
    d.feed("signals.raw", "X", signal("X", T0), partition=0)
    assert dlq_codes(d) == ["UNKNOWN_SYMBOL"] and enriched(d) == []


def test_a_verified_model_swaps_in_and_scores_the_recorded_row(booster: bytes, names: list[str]) -> None:
    metrics = CountingMetrics()
    d = driver(metrics)
    bars(d)
    d.feed("signals.raw", "S", signal("S", T0 + 29 * MINUTE, seq=1), partition=0)
    record = model_record(booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names)
    d.feed("models", "meta", record, partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 29 * MINUTE, seq=2), partition=0)
    cold, scored = enriched(d)
    assert (cold["model_version"], scored["model_version"]) == ("none", "v1")
    assert scored["provenance"]["models_offset"] == 0 and metrics.counts["model_swaps"] == 1
    import xgboost as xgb

    check = xgb.Booster()
    check.load_model(bytearray(booster))
    row = [scored["feature_values"].get(n, math.nan) for n in names]
    assert scored["meta_confidence"] == pytest.approx(float(check.inplace_predict(np.asarray([row]))[0]))
    assert scored["provenance"]["feature_hash"] == row_hash(names, row)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"booster_sha256": "0" * 64}, "MODEL_CHECKSUM"),
        ({"feature_names": ["direction"]}, "MODEL_FEATURES"),
        ({"trained_ts_ms": 1}, "MODEL_STALE"),
        ("garbage", "MODEL_UNLOADABLE"),
        ({"calibration": '{"method": "platt", "a": -2, "b": 0}'}, "MODEL_CALIBRATION"),
    ],
)
def test_a_bad_model_is_rejected_and_the_active_one_keeps_scoring(
    booster: bytes, names: list[str], change: dict[str, Any] | str, reason: str
) -> None:
    metrics = CountingMetrics()
    d = driver(metrics)
    bars(d)
    d.feed(
        "models",
        "meta",
        model_record(booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names),
        partition=0,
    )
    bad = model_record(booster, name="meta", version="v2", trained_ts_ms=2, feature_names=names)
    if change == "garbage":
        bad = model_record(b"not a booster", name="meta", version="v2", trained_ts_ms=2, feature_names=names)
    else:
        assert isinstance(change, dict)
        bad.update(change)
    d.feed("models", "meta", bad, partition=0)
    d.feed("signals.raw", "S", signal("S", T0), partition=0)
    assert dlq_codes(d) == [reason] and metrics.counts["model_rejections"] == 1
    assert [e["model_version"] for e in enriched(d)] == ["v1"]


def test_republishing_the_active_model_changes_nothing(booster: bytes, names: list[str]) -> None:
    metrics = CountingMetrics()
    d = driver(metrics)
    record = model_record(booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names)
    d.feed("models", "meta", record, partition=0)
    d.feed("models", "meta", record, partition=0)
    d.feed("models", "other", {**record, "model_name": "other", "trained_ts_ms": 9}, partition=0)
    assert metrics.counts["model_swaps"] == 1 and dlq_codes(d) == []


def test_a_restored_enricher_scores_like_the_one_before(booster: bytes, names: list[str]) -> None:
    d = driver()
    bars(d)
    record = model_record(
        booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names, calibration=PLATT.to_json()
    )
    d.feed("models", "meta", record, partition=0)
    d.feed("signals.raw", "S", signal("S", T0 + 29 * MINUTE, seq=1), partition=0)
    # A new core (no booster cache) over the same stores: what a restart restores.
    d.processors["enricher"] = EnricherProcessor(load_settings(partitions=1), Edges(reads=d))
    d.feed("signals.raw", "S", signal("S", T0 + 29 * MINUTE, seq=1), partition=0)
    first, again = enriched(d)
    ignore = {"enriched_at_ms", "provenance"}
    assert {k: v for k, v in first.items() if k not in ignore} == {
        k: v for k, v in again.items() if k not in ignore
    }
    assert first["provenance"]["feature_hash"] == again["provenance"]["feature_hash"]


def test_scoring_a_batch_ahead_changes_no_outcome(booster: bytes, names: list[str]) -> None:
    def run(ahead: bool) -> list[dict[str, Any]]:
        d = driver()
        core = d.processors["enricher"]
        bars(d)
        d.feed(
            "models",
            "meta",
            model_record(
                booster,
                name="meta",
                version="v1",
                trained_ts_ms=1,
                feature_names=names,
                calibration=PLATT.to_json(),
            ),
            partition=0,
        )
        batch = [
            Record("signals.raw", 0, i, "S", signal("S", T0 + (i % 30) * MINUTE, seq=i, ma_spread=i / 100))
            for i in range(40)
        ]
        if ahead:
            core.look_ahead(batch, lambda p: {s: d.store("enricher", s, p).view() for s in core.stores})
            assert len(core._scored) > 30  # most signals were scored in the batch call
        for record in batch:
            d.feed("signals.raw", "S", record.value, partition=0)
        return [{k: v for k, v in e.items() if k != "enriched_at_ms"} for e in enriched(d)]

    assert run(ahead=True) == run(ahead=False)


def test_market_data_and_regimes_earlier_in_the_batch_are_folded_ahead_so_no_signal_is_scored_alone(
    booster: bytes, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch as a fetch gives it: a bar (and now and then a regime event) before each signal
    of its symbol. The look-ahead computes every row on the state those records leave, so each
    signal finds its score in the batch call; what is published is the same without it."""
    alone: list[list[float]] = []
    predict = LoadedModel.predict
    monkeypatch.setattr(LoadedModel, "predict", lambda self, row: alone.append(row) or predict(self, row))

    def run(ahead: bool) -> list[dict[str, Any]]:
        d = driver()
        core = d.processors["enricher"]
        bars(d, count=10)
        record = model_record(booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names)
        d.feed("models", "meta", record, partition=0)
        batch = []
        for i in range(20):
            ts = T0 + (10 + i) * MINUTE
            batch.append(Record("market.buffer", 0, 10 + i, "S", bar_record("S", ts, 100.0 + i % 3, 1000.0)))
            if i % 5 == 0:
                event = regime_event(ts, "TREND_UP" if i % 10 else "RANGE", 0.7)
                batch.append(Record("regime.events", 0, i // 5, "S", event))
            batch.append(Record("signals.raw", 0, i, "S", signal("S", ts, seq=i, ma_spread=i / 100)))
        alone.clear()
        if ahead:
            core.look_ahead(batch, lambda p: {s: d.store("enricher", s, p).view() for s in core.stores})
        for r in batch:
            d.feed(r.topic, r.key, r.value, partition=0)
        assert len(alone) == (0 if ahead else 20)
        return [{k: v for k, v in e.items() if k != "enriched_at_ms"} for e in enriched(d)]

    with_ahead = run(ahead=True)
    assert with_ahead == run(ahead=False)
    assert {e["regime"] for e in with_ahead} == {"RANGE", "TREND_UP"}


def test_a_calibrated_model_publishes_the_mapped_score_monotone_in_the_raw_one(
    booster: bytes, names: list[str]
) -> None:
    d = driver()
    bars(d)
    record = model_record(
        booster, name="meta", version="v1", trained_ts_ms=1, feature_names=names, calibration=PLATT.to_json()
    )
    d.feed("models", "meta", record, partition=0)
    for i in range(20):
        d.feed(
            "signals.raw",
            "S",
            signal("S", T0 + (5 + i) * MINUTE, seq=i, ma_spread=(i - 10) / 50),
            partition=0,
        )
    import xgboost as xgb

    check = xgb.Booster()
    check.load_model(bytearray(booster))
    pairs = []
    for event in enriched(d):
        row = [event["feature_values"].get(n, math.nan) for n in names]
        raw = float(check.inplace_predict(np.asarray([row], dtype=np.float32))[0])
        assert event["meta_confidence"] == PLATT.one(raw) != raw
        pairs.append((raw, event["meta_confidence"]))
    assert len({raw for raw, _ in pairs}) >= 3
    assert [c for _, c in sorted(pairs)] == sorted(c for _, c in pairs)
