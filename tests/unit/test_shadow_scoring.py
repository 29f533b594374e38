"""Champion/challenger through the in-memory driver: the enricher scores a challenger beside the
champion on signals.shadow without changing what it publishes; a promotion switches once; the
labeler joins shadow scores with outcomes in any arrival order and publishes each version's
live scores on models.metrics, with the paired Brier gain the promotion rule reads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.samples import CountingMetrics
from workers.config import load_settings
from workers.contracts import Serde
from workers.enricher.processor import EnricherProcessor
from workers.enricher.samples import bar_record, signal
from workers.labeler.processor import LabelerProcessor
from workers.meta_model import load, model_record, train_booster
from workers.meta_model.calibration import Calibration
from workers.processing import Edges, Record
from workers.processing.driver import Driver
from workers.topology import load_topology

T0 = 1_600_000_000_000
MIN = 60_000
PLATT = Calibration("platt", a=0.7, b=-0.1)


@pytest.fixture(scope="module")
def names() -> list[str]:
    return EnricherProcessor(load_settings(partitions=1)).feature_names


@pytest.fixture(scope="module")
def boosters(names: list[str]) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, len(names)))
    champion = train_booster(x, (x[:, 2] > 0).astype(int), names, rounds=10, max_depth=2)
    challenger = train_booster(x, (x[:, 3] > 0).astype(int), names, rounds=10, max_depth=3)
    return champion, challenger


def record(booster: bytes, names: list[str], version: str, ts: int, status: str = "live") -> dict[str, Any]:
    calibration = PLATT.to_json() if status == "challenger" else ""
    out = model_record(
        booster, name="meta", version=version, trained_ts_ms=ts, feature_names=names, calibration=calibration
    )
    return {**out, "status": status}


def fleet(metrics: CountingMetrics | None = None, labeler: bool = False) -> Driver:
    settings = load_settings(partitions=1, labeler={"min_samples": 5})
    d = Driver(load_topology(1))
    edges = Edges(reads=d, metrics=metrics or CountingMetrics())
    d.processors["enricher"] = EnricherProcessor(settings, edges)
    if labeler:
        d.processors["labeler"] = LabelerProcessor(settings, edges)
    price = 100.0
    for i in range(40):
        price *= math.exp(0.01 * math.sin(i))
        d.feed("market.buffer", "S", bar_record("S", T0 + i * MIN, price, 1000.0), partition=0)
    return d


def signals(d: Driver, first: int, count: int) -> None:
    for i in range(first, first + count):
        value = signal("S", T0 + (i % 40) * MIN, seq=i, direction=1 - 2 * (i % 2), ma_spread=i / 50)
        d.feed("signals.raw", "S", value, partition=0)


def sized(d: Driver) -> list[dict[str, Any]]:
    """The enriched events but for their wall clock and where the partition stood on `models`
    (a challenger's record is a record on models too)."""
    out = []
    for r in d.received("signals.enriched"):
        event = {k: v for k, v in r.value.items() if k != "enriched_at_ms"}
        event["provenance"] = {k: v for k, v in event["provenance"].items() if k != "models_offset"}
        out.append(event)
    return out


def test_a_challenger_is_scored_beside_the_champion_and_changes_nothing_published(
    boosters: tuple[bytes, bytes], names: list[str]
) -> None:
    champion, challenger = boosters
    runs = []
    for with_challenger in (False, True):
        metrics = CountingMetrics()
        d = fleet(metrics)
        d.feed("models", "meta", record(champion, names, "c1", 1), partition=0)
        if with_challenger:
            d.feed("models", "meta:challenger", record(challenger, names, "x1", 2, "challenger"), partition=0)
        signals(d, 0, 30)
        runs.append((sized(d), [dict(r.value) for r in d.received("signals.shadow")], metrics))
    (plain, no_shadow, _), (same, shadows, metrics) = runs
    assert plain == same and no_shadow == []
    assert {e["model_version"] for e in same} == {"c1"}
    assert [s["signal_id"] for s in shadows] == [e["signal"]["signal_id"] for e in same]
    scorer = load(challenger, version="x1", feature_names=names, trained_ts_ms=2, calibration=PLATT.to_json())
    for event, score in zip(same, shadows, strict=True):
        row = [event["feature_values"].get(n, math.nan) for n in names]
        assert score["meta_confidence"] == scorer.predict(row)  # the challenger's calibrated score
        assert (score["model_version"], score["champion_version"]) == ("x1", "c1")
        assert score["champion_confidence"] == event["meta_confidence"]
        assert score["feature_hash"] == event["provenance"]["feature_hash"]
    assert len({s["meta_confidence"] for s in shadows}) > 1
    assert metrics.counts["shadow_scores"] == 30


def test_a_batch_scored_ahead_gives_the_same_shadow_scores(
    boosters: tuple[bytes, bytes], names: list[str]
) -> None:
    champion, challenger = boosters

    def run(ahead: bool) -> list[dict[str, Any]]:
        d = fleet()
        core = d.processors["enricher"]
        d.feed("models", "meta", record(champion, names, "c1", 1), partition=0)
        d.feed("models", "meta:challenger", record(challenger, names, "x1", 2, "challenger"), partition=0)
        batch = [
            Record("signals.raw", 0, i, "S", signal("S", T0 + (i % 40) * MIN, seq=i, ma_spread=i / 50))
            for i in range(30)
        ]
        if ahead:
            core.look_ahead(batch, lambda p: {s: d.store("enricher", s, p).view() for s in core.stores})
            assert len(core._scored) >= 40  # both models scored in the batch call
        for r in batch:
            d.feed("signals.raw", "S", r.value, partition=0)
        return [dict(r.value) for r in d.received("signals.shadow")]

    assert run(ahead=True) == run(ahead=False)


def test_a_promotion_switches_once_and_ends_the_shadow(
    boosters: tuple[bytes, bytes], names: list[str]
) -> None:
    champion, challenger = boosters
    d = fleet()
    d.feed("models", "meta", record(champion, names, "c1", 1), partition=0)
    d.feed("models", "meta:challenger", record(challenger, names, "x1", 2, "challenger"), partition=0)
    signals(d, 0, 5)
    promoted = {**record(challenger, names, "x1", 3), "calibration": PLATT.to_json()}
    d.feed("models", "meta", promoted, partition=0)
    d.feed(
        "models", "meta:challenger", record(challenger, names, "x1", 2, "challenger"), partition=0
    )  # again
    signals(d, 5, 5)
    versions = [e["model_version"] for e in sized(d)]
    assert versions == ["c1"] * 5 + ["x1"] * 5
    shadows = [dict(r.value) for r in d.received("signals.shadow")]
    assert len(shadows) == 5  # none after the promotion, none from the redelivered challenger record
    assert [e["meta_confidence"] for e in sized(d)[5:]] == [
        load(
            challenger, version="x1", feature_names=names, trained_ts_ms=3, calibration=PLATT.to_json()
        ).predict([e["feature_values"].get(n, math.nan) for n in names])
        for e in sized(d)[5:]
    ]


def test_a_challenger_with_other_features_is_dead_lettered(
    boosters: tuple[bytes, bytes], names: list[str]
) -> None:
    champion, challenger = boosters
    d = fleet()
    d.feed("models", "meta", record(champion, names, "c1", 1), partition=0)
    d.feed(
        "models",
        "meta:challenger",
        {**record(challenger, names, "x1", 2, "challenger"), "feature_names": ["a"]},
        partition=0,
    )
    signals(d, 0, 3)
    assert [r.headers["error_code"] for r in d.received("fleet.dlq")] == ["MODEL_FEATURES"]
    assert d.received("signals.shadow") == []


def labelled(
    d: Driver | None, seq: int, champion: float, version: str = "c1", symbol: str = "S"
) -> dict[str, Any]:
    return {
        "signal": signal(symbol, T0 + seq, seq=seq, direction=1),  # price 100
        "meta_confidence": champion,
        "model_version": version,
        "feature_values": {"vol_20": 0.01 * 20**0.5},
    }


def shadow(seq: int, champion: float, challenger: float, symbol: str = "S") -> dict[str, Any]:
    return {
        "signal_id": signal(symbol, T0 + seq, seq=seq, direction=1)["signal_id"],
        "symbol": symbol,
        "signal_ts_ms": T0 + seq,
        "direction": 1,
        "model_version": "x1",
        "meta_confidence": challenger,
        "model_sha256": "",
        "champion_version": "c1",
        "champion_confidence": champion,
        "feature_hash": "",
        "signal_partition": 0,
        "signal_offset": seq,
    }


def test_the_labeler_pairs_shadow_scores_with_outcomes_in_any_order() -> None:
    d = Driver(load_topology(1))
    metrics = CountingMetrics()
    settings = load_settings(partitions=1, labeler={"min_samples": 2, "barriers": {"max_hold": 1}})
    d.processors["labeler"] = LabelerProcessor(settings, Edges(reads=d, metrics=metrics))
    # signal 1: shadow first; signal 2: shadow while open; signal 3: shadow after its outcome
    d.feed("signals.shadow", "S", shadow(1, 0.6, 0.9), partition=0)
    d.feed("signals.enriched", "S", labelled(d, 1, 0.6), partition=0)
    d.feed("signals.enriched", "S", labelled(d, 2, 0.7), partition=0)
    d.feed("signals.shadow", "S", shadow(2, 0.7, 0.8), partition=0)
    d.feed("market.buffer", "S", bar_record("S", T0 + 10, 101.0, 1.0), partition=0)  # both right (label 1)
    d.feed(
        "models",
        "meta:challenger",
        {"model_name": "meta", "status": "challenger", "model_version": "x1"},
        partition=0,
    )
    d.feed("signals.enriched", "S", labelled(d, 15, 0.4), partition=0)
    d.feed("market.buffer", "S", bar_record("S", T0 + 20, 99.0, 1.0), partition=0)  # wrong (label 0)
    d.feed("signals.shadow", "S", shadow(15, 0.4, 0.3), partition=0)
    assert [o["label"] for o in (dict(r.value) for r in d.received("signals.outcomes"))] == [1, 1, 0]
    published = [dict(r.value) for r in d.received("models.metrics")]
    challenger = [m for m in published if m["model_version"] == "x1"]
    assert [m["paired"] for m in challenger] == [1, 2, 3]
    last = challenger[-1]
    gains = [(0.6 - 1) ** 2 - (0.9 - 1) ** 2, (0.7 - 1) ** 2 - (0.8 - 1) ** 2, 0.4**2 - 0.3**2]
    assert last["brier_gain_sum"] == pytest.approx(sum(gains))
    assert last["brier_gain_sumsq"] == pytest.approx(sum(g * g for g in gains))
    assert last["champion_brier"] == pytest.approx((0.16 + 0.09 + 0.16) / 3)
    assert last["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)
    assert (last["role"], last["champion_version"], last["auc"]) == ("challenger", "c1", 1.0)
    assert [m["resolved_ts_ms"] for m in challenger] == [T0 + 10, T0 + 10, T0 + 20]  # late: remembered
    champion = [m for m in published if m["model_version"] == "c1"]
    assert [m["window"] for m in champion] == [1, 2, 3] and champion[-1]["role"] == "champion"
    assert champion[-1]["brier"] == pytest.approx((0.16 + 0.09 + 0.16) / 3)
    assert metrics.gauges[("live_ece", (("model_version", "x1"), ("partition", "0")))] == pytest.approx(
        last["ece"]
    )


def test_cold_start_outcomes_publish_no_live_scores() -> None:
    d = Driver(load_topology(1))
    settings = load_settings(partitions=1, labeler={"barriers": {"max_hold": 1}})
    d.processors["labeler"] = LabelerProcessor(settings, Edges(reads=d, metrics=CountingMetrics()))
    d.feed("signals.enriched", "S", labelled(d, 1, 0.5, version="none"), partition=0)
    d.feed("market.buffer", "S", bar_record("S", T0 + 10, 101.0, 1.0), partition=0)
    assert len(d.received("signals.outcomes")) == 1 and d.received("models.metrics") == []


def _labeler_inputs(n: int) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Per input topic, in its own order: n signals of two symbols with their shadow scores, and
    a bar after each signal, all of T's before all of S's (so outcomes resolve in another order
    than the signals were sent when the signals are read first)."""
    symbols = {seq: "ST"[seq % 2] for seq in range(1, n + 1)}
    champion = {seq: 0.3 + (seq * 7 % 11) / 20 for seq in symbols}
    enriched = [
        ("signals.enriched", s, labelled(None, seq, champion[seq], symbol=s)) for seq, s in symbols.items()
    ]
    shadows = [
        ("signals.shadow", s, shadow(seq, champion[seq], (seq * 5 % 13) / 13, symbol=s))
        for seq, s in symbols.items()
    ]
    bars = [
        ("market.buffer", s, bar_record(s, T0 + seq + 1, 100.0 + (-1) ** (seq // 2), 1.0))
        for name in "TS"
        for seq, s in symbols.items()
        if s == name
    ]
    return {"signals.enriched": enriched, "signals.shadow": shadows, "market.buffer": bars}


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_live_scores_end_the_same_whatever_order_the_topics_are_read_in(rnd: Any) -> None:
    """A labeler restarted after a crash, or a replay, reads its three input topics in another
    interleaving: each version's last ModelMetrics is the same, bit for bit (windows kept in
    event-time order, outcomes dropped from a full window by that order too)."""
    serde = Serde()
    ends = []
    for shuffled in (False, True):
        d = Driver(load_topology(1))
        config = {"min_samples": 2, "window": 10, "shadow_window": 12, "barriers": {"max_hold": 1}}
        d.processors["labeler"] = LabelerProcessor(
            load_settings(partitions=1, labeler=config), Edges(reads=d, metrics=CountingMetrics())
        )
        challenger = {"model_name": "meta", "status": "challenger", "model_version": "x1"}
        d.feed("models", "meta:challenger", challenger, partition=0)
        queues = [list(q) for q in _labeler_inputs(30).values()]
        while any(queues):
            pick = [q for q in queues if q][rnd.randrange(sum(1 for q in queues if q)) if shuffled else 0]
            topic, key, value = pick.pop(0)
            d.feed(topic, key, value, partition=0)
        last = {
            r.value["model_version"]: serde.encode("ModelMetrics", r.value)
            for r in d.received("models.metrics")
        }
        ends.append(last)
    assert set(ends[0]) == {"c1", "x1"} and ends[0] == ends[1]
    assert serde.decode("ModelMetrics", ends[0]["x1"])["paired"] == 12  # a full window
