"""Training a meta-model: labelled signals in, a verified ModelRecord (live or rejected) out.

Two kinds of data, both ending in the same `Dataset` (rows in the enricher's feature order,
meta-labels, label windows, provenance):
- `dataset_from_bars`: bars (and regime events when there are any) -> the primary strategy's
  signals -> features from the enricher's own core on the in-memory driver (one
  implementation: training and serving cannot drift) -> vectorised triple-barrier labels.
- `dataset_from_outcomes`: enriched signals with the outcomes the labeler resolved: the
  features recorded when they were scored, the labels observed live.

`train` runs purged walk-forward CV (rounds early-stopped per fold), fits the final booster on
everything, fits the calibration map on the out-of-fold scores, and gates it
(workers/meta_model/evaluation.py, gate.py): a candidate without evidence that it beats the
base rate, or the active model, is rejected (recorded, never activated).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from workers.config import FleetSettings
from workers.contracts.buffer import buffered
from workers.meta_model import calibration as cal
from workers.meta_model.booster import early_stopped_rounds, model_record, train_booster
from workers.meta_model.cv import scores, walk_forward
from workers.meta_model.drift import distribution
from workers.meta_model.evaluation import HeldOut, calibration_report, gate, held_out
from workers.meta_model.labels import Barriers, label_paths
from workers.meta_model.primary import crossovers
from workers.meta_model.scoring import load
from workers.processing.driver import Driver
from workers.topology import load_topology

Progress = Callable[[str, int, int], None]


class TrainingError(Exception):
    """Data that cannot train a model (too few bars or samples, NaN prices, nothing labelled)."""


@dataclass
class Dataset:
    names: list[str]
    rows: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    t0: np.ndarray[Any, Any]  # signal time
    t1: np.ndarray[Any, Any]  # label resolved
    provenance: dict[str, Any] = field(default_factory=dict)


def barriers(settings: FleetSettings) -> Barriers:
    b = settings.section("trainer").barriers
    return Barriers(b.profit_taking, b.stop_loss, b.max_hold)


def signal_sigma(feature_values: Mapping[str, float], horizon: int) -> float | None:
    """Per-observation volatility of an enriched signal: vol_h / sqrt(h), or None."""
    vol = feature_values.get(f"vol_{horizon}")
    return vol / math.sqrt(horizon) if vol is not None and math.isfinite(vol) and vol > 0 else None


def dataset_from_bars(
    settings: FleetSettings,
    bars: list[dict[str, Any]],
    regime_events: Iterable[dict[str, Any]] = (),
    provenance: dict[str, Any] | None = None,
) -> Dataset:
    """Bars are RawMarketEvents of kind BAR (any symbols, any order)."""
    bars = sorted((b for b in bars if b["kind"] == "BAR"), key=lambda b: (b["event_ts_ms"], b["symbol"]))
    t = settings.section("trainer")  # by name: the trainer's package imports this one
    if len(bars) < t.min_bars:
        raise TrainingError(f"{len(bars)} bars; training needs at least {t.min_bars}")
    closes = np.array([b["bar"]["close"] for b in bars], dtype=float)
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        raise TrainingError("bars with NaN, infinite or non-positive closes")
    signals = [s for s in crossovers(bars, t.fast, t.slow) if s["direction"]]
    enriched = _enrich(settings, bars, signals, list(regime_events))
    b = barriers(settings)
    by_symbol: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bar in bars:
        by_symbol[bar["symbol"]].append(bar)
    rows, labels, t0, t1 = [], [], [], []
    names = enriched.names
    for symbol, series in by_symbol.items():
        prices = np.array([x["bar"]["close"] for x in series], dtype=float)
        ts = np.array([x["event_ts_ms"] for x in series], dtype=np.int64)
        mine = [e for e in enriched.events if e["signal"]["symbol"] == symbol]
        entries = [
            (
                int(np.searchsorted(ts, e["signal"]["signal_ts_ms"], side="right")),
                e["signal"]["price"],
                e["signal"]["direction"],
                signal_sigma(e["feature_values"], t.barriers.vol_horizon),
            )
            for e in mine
        ]
        for event, outcome in zip(mine, label_paths(prices, ts, entries, b), strict=True):
            if outcome is None:
                continue  # not resolved within the data
            rows.append([event["feature_values"].get(n, np.nan) for n in names])
            labels.append(outcome.label)
            t0.append(event["signal"]["signal_ts_ms"])
            t1.append(outcome.ts_ms)
    return _ordered(
        names, rows, labels, t0, t1, {"bars": len(bars), "signals": len(signals), **(provenance or {})}
    )


@dataclass
class _Enriched:
    names: list[str]
    events: list[dict[str, Any]]


def _enrich(
    settings: FleetSettings,
    bars: list[dict[str, Any]],
    signals: list[dict[str, Any]],
    regimes: list[dict[str, Any]],
) -> _Enriched:
    """The enricher core over bars, regime events and signals in event-time order. Records
    come in time order here, so holding market data for later signals changes nothing but
    the cost: a short pending list gives the same features."""
    enricher = settings.section("enricher")  # by name: the enricher's package imports this one
    quick = settings.model_copy(update={"enricher": enricher.model_copy(update={"max_pending": 4})})
    driver = Driver.for_fleet(quick, load_topology(1), ["enricher"])
    names: list[str] = driver.processors["enricher"].feature_names  # type: ignore[attr-defined]
    timeline = sorted(
        [(b["event_ts_ms"], 0, "market.buffer", b) for b in bars]
        + [(r["engine_timestamp_ms"], 1, "regime.events", r) for r in regimes]
        + [(s["signal_ts_ms"], 2, "signals.raw", s) for s in signals],
        key=lambda item: (item[0], item[1]),
    )
    for _, _, topic, value in timeline:
        symbol = value["symbol"]
        driver.feed(topic, symbol, buffered(value) if topic == "market.buffer" else value, partition=0)
    events = [dict(e.value) for e in driver.received("signals.enriched") if isinstance(e.value, Mapping)]
    return _Enriched(names, events)


def dataset_from_outcomes(
    settings: FleetSettings,
    names: list[str],
    enriched: Iterable[Mapping[str, Any]],
    outcomes: Iterable[Mapping[str, Any]],
    provenance: dict[str, Any] | None = None,
) -> Dataset:
    """Live meta-labels: each outcome joined with the features its signal was scored with."""
    by_id = {e["signal"]["signal_id"]: e for e in enriched}
    rows, labels, t0, t1 = [], [], [], []
    for outcome in outcomes:
        event = by_id.get(outcome["signal_id"])
        if event is None:
            continue
        rows.append([event["feature_values"].get(n, np.nan) for n in names])
        labels.append(int(outcome["label"]))
        t0.append(event["signal"]["signal_ts_ms"])
        t1.append(outcome["resolved_ts_ms"])
    return _ordered(names, rows, labels, t0, t1, {"outcomes": len(labels), **(provenance or {})})


def _ordered(
    names: list[str],
    rows: list[Any],
    labels: list[int],
    t0: list[int],
    t1: list[int],
    provenance: dict[str, Any],
) -> Dataset:
    order = np.argsort(np.asarray(t0, dtype=np.int64), kind="stable")
    return Dataset(
        names,
        np.asarray(rows, dtype=float).reshape(len(labels), len(names))[order],
        np.asarray(labels, dtype=int)[order],
        np.asarray(t0, dtype=np.int64)[order],
        np.asarray(t1, dtype=np.int64)[order],
        provenance,
    )


@dataclass
class TrainingResult:
    record: dict[str, Any]
    report: dict[str, Any]
    fold_predictions: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]  # (labels, raw scores) per fold
    held_out: HeldOut | None = None  # folds 2..K, calibrated walk-forward


def train(
    settings: FleetSettings,
    data: Dataset,
    *,
    version: str,
    trained_ts_ms: int,
    active: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Purged walk-forward CV (rounds early-stopped per fold), the final fit, the calibration
    map on the out-of-fold scores, the gate; a ModelRecord with its report."""
    t = settings.section("trainer")  # by name: the trainer's package imports this one
    if len(data.labels) < t.min_samples:
        raise TrainingError(f"{len(data.labels)} labelled signals; training needs at least {t.min_samples}")
    if len(set(data.labels.tolist())) < 2:
        raise TrainingError("every label is the same: nothing to learn")
    booster_args = {
        "max_depth": t.max_depth,
        "seed": t.seed,
        "learning_rate": t.learning_rate,
        "nthread": t.nthread,
        "min_child_weight": t.min_child_weight,
    }

    def rounds_for(rows: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> int:
        if not t.early_stopping:
            return int(t.rounds)
        return early_stopped_rounds(
            rows,
            labels,
            data.names,
            max_rounds=t.rounds,
            patience=t.patience,
            holdout=t.holdout,
            **booster_args,
        )

    folds = list(walk_forward(data.t0, data.t1, t.folds, t.embargo_ms))
    per_fold: list[dict[str, float]] = []
    predictions: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    incumbent_scores: list[np.ndarray[Any, Any]] = []
    incumbent = _loaded(active)
    for i, fold in enumerate(folds, start=1):
        if progress:
            progress("cross-validation", i, len(folds) + 1)
        if len(set(data.labels[fold.train].tolist())) < 2:
            continue  # a fold without both classes to learn from
        x, y = data.rows[fold.train], data.labels[fold.train]
        rounds = rounds_for(x, y)
        fitted = train_booster(x, y, data.names, rounds=rounds, **booster_args)
        candidate = load(fitted, version=version, feature_names=data.names, trained_ts_ms=0)
        p: np.ndarray[Any, Any] = np.asarray(candidate.raw_many(data.rows[fold.test]))
        predictions.append((data.labels[fold.test], p))
        per_fold.append(
            {
                "train": len(fold.train),
                "test": len(fold.test),
                "rounds": rounds,
                **scores(data.labels[fold.test], p),
            }
        )
        if incumbent is not None:
            incumbent_scores.append(np.asarray(incumbent.predict_many(data.rows[fold.test])))
    if progress:
        progress("final fit", len(folds) + 1, len(folds) + 1)
    final_rounds = (
        int(np.median([f["rounds"] for f in per_fold])) if per_fold and t.early_stopping else t.rounds
    )
    booster = train_booster(data.rows, data.labels, data.names, rounds=final_rounds, **booster_args)
    oof_y = np.concatenate([y for y, _ in predictions]) if predictions else np.array([])
    oof_p = np.concatenate([p for _, p in predictions]) if predictions else np.array([])
    mapping = cal.fit(t.calibration, oof_p, oof_y) if len(set(oof_y.tolist())) == 2 else cal.Calibration()
    held = held_out(predictions, t.calibration)
    active_brier = None
    if len(incumbent_scores) > 1:
        active_brier = cal.brier(held.labels, np.concatenate(incumbent_scores[1:]))
    criteria = gate(t, predictions, held, active_brier) if per_fold else []
    failed = [c for c in criteria if not c.passed]
    status, why = "live", ""
    if not per_fold:
        status, why = "rejected", "no fold had both classes to learn from"
    elif failed:
        status, why = "rejected", "; ".join(c.sentence() for c in failed)
    validation = _mean(per_fold)
    calibration = calibration_report(held, t.ece_bins)
    importance = xgb.Booster(model_file=bytearray(booster)).get_score(importance_type="gain")
    report = {
        "model_version": version,
        "status": status,
        "rejected_because": why,
        "gate": [c.as_dict() for c in criteria],
        "validation": validation,
        "calibration": {**calibration, "method": t.calibration, "map": mapping.to_json()},
        "rounds": final_rounds,
        "folds": per_fold,
        "active_brier": active_brier,
        "feature_importance_gain": {k: v for k, v in sorted(importance.items()) if isinstance(v, float)},
        "samples": len(data.labels),
        "positive_rate": float(np.mean(data.labels)),
        "data": data.provenance,
        "settings": t.model_dump(mode="json"),
        "settings_fingerprint": hashlib.sha256(t.model_dump_json().encode()).hexdigest()[:16],
    }
    record = model_record(
        booster,
        name=settings.section("enricher").model_name,
        version=version,
        trained_ts_ms=trained_ts_ms,
        feature_names=data.names,
        accuracy=_finite(calibration["calibrated"]["accuracy"]),  # what the labeler compares live
        auc=_finite(validation["auc"]),
        training_samples=len(data.labels),
        status=status,
        details=json.dumps(report, sort_keys=True, default=_finite),
        calibration=mapping.to_json(),
        feature_distribution=json.dumps(distribution(data.rows, data.names), sort_keys=True),
    )
    return TrainingResult(record, report, predictions, held)


def _loaded(active: Mapping[str, Any] | None) -> Any:
    if not active:
        return None
    return load(
        bytes(active["booster"]),
        version=active["model_version"],
        feature_names=active["feature_names"],
        trained_ts_ms=0,
        calibration=active.get("calibration") or "",
    )


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = ("accuracy", "auc", "log_loss", "precision", "recall")
    return {k: float(np.nanmean([r[k] for r in rows])) if rows else math.nan for k in keys}


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0
