"""The pure labeler/monitor core: outcomes of enriched signals, and retrain triggers.

Per partition, in stores with changelogs:
  signals  symbol -> open signals waiting for a barrier, and the symbol's recent observations
           (a signal enriched after some of its later market data still sees that data)
  monitor  model version -> rolling window of (label, predicted, confidence), outcomes counted,
           triggers sent; "baseline/<version>" -> the validation accuracy and training feature
           distribution its ModelRecord carries; "drift/<version>" -> feature bin counts

An enriched signal opens (flat ones have no right or wrong and are not labelled); each later
trade or bar of its symbol is a step of the triple barrier (workers/meta_model/labels.py).
A resolved signal becomes a SignalOutcome naming the model version that scored it. The
monitor then checks its version: rolling accuracy more than `labeler.accuracy_drop` below the
baseline (after `min_samples` outcomes), a live ECE above `labeler.max_ece` (calibration), or
`retrain_every` outcomes; and each scored signal counts towards its version's feature drift
(PSI against the ModelRecord's training distribution, per `drift_window` signals). Each sends
one RetrainTrigger per (version, reason) and partition, never two (what was sent is in the
store), with its evidence as JSON.

Every outcome of a model (not `none`) also updates that version's live scores (AUC, Brier,
ECE, accuracy) on the compacted models.metrics; a challenger's shadow scores (signals.shadow)
are joined with the outcomes of the signals they scored (workers/labeler/shadow.py), and its
live scores carry the paired Brier gain over the champion that the promotion rule reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from workers.config import FleetSettings
from workers.enricher.market import observation
from workers.enricher.settings import EnricherSettings
from workers.labeler import checks, shadow
from workers.labeler.settings import LabelerSettings
from workers.meta_model import NO_MODEL
from workers.meta_model.labels import Barriers, OpenSignal, Outcome
from workers.meta_model.training import signal_sigma
from workers.processing import Edges, JsonCodec, Output, ProcessorBase, Record, StateStore
from workers.topics import BUFFER, ENRICHED, METRICS, MODELS, OUTCOMES, RETRAIN, SHADOW

SIGNALS, MONITOR = "signals", "monitor"


class LabelerProcessor(ProcessorBase):
    name = "labeler"

    def __init__(self, settings: FleetSettings, edges: Edges | None = None) -> None:
        self.config = LabelerSettings.of(settings)
        b = self.config.barriers
        self.barriers = Barriers(b.profit_taking, b.stop_loss, b.max_hold)
        self.metrics = (edges or Edges()).metrics
        self.stores = {SIGNALS: JsonCodec(), MONITOR: JsonCodec()}
        self.model_name = EnricherSettings.of(settings).model_name

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        if record.topic == MODELS:
            value = record.value
            if value["model_name"] == self.model_name and value.get("status") == "challenger":
                shadow.start(stores[MONITOR])  # remember outcomes for late shadow scores
            if value["model_name"] == self.model_name and value.get("status", "live") == "live":
                baseline = {
                    "accuracy": value["accuracy"],
                    "feature_distribution": value.get("feature_distribution") or "",
                }
                stores[MONITOR].put(f"baseline/{value['model_version']}", baseline)
            return []
        if record.topic == ENRICHED:
            return self._opened(record, stores, now_ms)
        if record.topic == BUFFER:
            return self._observed(record, stores, now_ms)
        if record.topic == SHADOW and record.value["direction"] != 0:  # flat signals get no outcome
            known = shadow.arrived(stores[MONITOR], record.value)
            return [] if known is None else self._paired(record, stores[MONITOR], record.value, *known)
        return []

    def _paired(
        self, record: Record, store: StateStore, score: Mapping[str, Any], label: int, resolved_ts_ms: int
    ) -> list[Output]:
        """A challenger's score beside its signal's outcome: its live scores on models.metrics."""
        state = shadow.paired(store, score, label, resolved_ts_ms, self.config.shadow_window)
        metrics = shadow.challenger_metrics(
            score["model_version"], record.partition, state, self.config.ece_bins
        )
        return [self._published(record, metrics)]

    def _published(self, record: Record, metrics: dict[str, Any]) -> Output:
        """A ModelMetrics record (key: the version), and the live gauges once the window holds
        labeler.min_samples outcomes (a smaller window's ECE is mostly noise)."""
        if metrics["window"] >= self.config.min_samples:
            labels = {"model_version": metrics["model_version"], "partition": str(record.partition)}
            self.metrics.set("live_ece", metrics["ece"], **labels)
            self.metrics.set("live_brier", metrics["brier"], **labels)
            if metrics["auc"] == metrics["auc"]:  # not NaN
                self.metrics.set("live_auc", metrics["auc"], **labels)
        headers = {
            "schema": "ModelMetrics",
            "model_version": metrics["model_version"],
            "role": metrics["role"],
        }
        return Output(METRICS, metrics["model_version"], metrics, headers, partition=record.partition)

    def _opened(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        event = record.value
        signal = event["signal"]
        if signal["direction"] == 0:
            return []
        symbol = signal["symbol"]
        state = stores[SIGNALS].get(symbol) or {"history": [], "open": []}
        sigma = signal_sigma(event["feature_values"], self.config.barriers.vol_horizon)
        opened = OpenSignal.open(signal["price"], signal["direction"], sigma, self.barriers)
        entry = {
            "signal_id": signal["signal_id"],
            "ts": signal["signal_ts_ms"],
            "model_version": event["model_version"],
            "confidence": event["meta_confidence"],
            "barrier": opened.as_list(),
        }
        outputs = self._drift(record, stores[MONITOR], event, now_ms)
        for ts, price in state["history"]:  # market data that arrived before the signal did
            if ts > entry["ts"]:
                done = opened.step(price, ts, self.barriers)
                if done is not None:
                    outputs += self._resolved(record, stores, symbol, entry, done, now_ms)
                    break
        else:
            entry["barrier"] = opened.as_list()
            pending = [*state["open"], entry]
            while len(pending) > self.config.max_open:  # the oldest ends at its last price
                oldest = pending.pop(0)
                outputs += self._expired(record, stores, symbol, oldest, state["history"], now_ms)
            state = {**state, "open": pending}
        stores[SIGNALS].put(symbol, state)
        return outputs

    def _observed(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        obs = observation(record.offset, record.value)
        if obs is None:
            return []
        symbol = record.value["event"]["symbol"]
        state = stores[SIGNALS].get(symbol) or {"history": [], "open": []}
        outputs: list[Output] = []
        still_open = []
        for entry in state["open"]:
            if obs.ts_ms <= entry["ts"]:
                still_open.append(entry)
                continue
            opened = OpenSignal.from_list(entry["barrier"])
            done = opened.step(obs.price, obs.ts_ms, self.barriers)
            if done is None:
                still_open.append({**entry, "barrier": opened.as_list()})
            else:
                outputs += self._resolved(record, stores, symbol, entry, done, now_ms)
        history = [*state["history"], [obs.ts_ms, obs.price]][-self.config.history :]
        stores[SIGNALS].put(symbol, {"history": history, "open": still_open})
        return outputs

    def _expired(
        self,
        record: Record,
        stores: Mapping[str, StateStore],
        symbol: str,
        entry: dict[str, Any],
        history: list[list[Any]],
        now_ms: int,
    ) -> list[Output]:
        ts, price = history[-1] if history else (entry["ts"], entry["barrier"][0])
        opened = OpenSignal.from_list(entry["barrier"])
        label = 1 if (price - opened.entry) * opened.direction > 0 else 0
        return self._resolved(
            record, stores, symbol, entry, Outcome(label, "VERTICAL", opened.seen, int(ts)), now_ms
        )

    def _resolved(
        self,
        record: Record,
        stores: Mapping[str, StateStore],
        symbol: str,
        entry: Mapping[str, Any],
        done: Outcome,
        now_ms: int,
    ) -> list[Output]:
        predicted = 1 if entry["confidence"] > 0.5 else 0
        outcome = {
            "signal_id": entry["signal_id"],
            "symbol": symbol,
            "label": done.label,
            "barrier": done.barrier,
            "predicted": predicted,
            "meta_confidence": entry["confidence"],
            "resolved_ts_ms": done.ts_ms,
            "model_version": entry["model_version"],
        }
        self.metrics.count("outcomes", barrier=done.barrier)
        headers = {
            "schema": "SignalOutcome",
            "signal_id": entry["signal_id"],
            "model_version": entry["model_version"],
        }
        outputs = [Output(OUTCOMES, symbol, outcome, headers, partition=record.partition)]
        monitor = stores[MONITOR]
        shadow.remember(monitor, symbol, entry["signal_id"], done.label, done.ts_ms)
        for score in shadow.waiting_for(monitor, symbol, entry["signal_id"]):
            outputs += self._paired(record, monitor, score, done.label, done.ts_ms)
        return outputs + self._monitor(
            record,
            stores[MONITOR],
            entry["model_version"],
            done.label,
            predicted,
            entry["confidence"],
            now_ms,
            done.ts_ms,
            entry["signal_id"],
        )

    def _monitor(
        self,
        record: Record,
        store: StateStore,
        version: str,
        label: int,
        predicted: int,
        confidence: float,
        now_ms: int,
        resolved_ts_ms: int,
        signal_id: str,
    ) -> list[Output]:
        c = self.config
        seen = store.get(version) or {"window": [], "outcomes": 0, "triggered": []}
        entry = [label, predicted, confidence, resolved_ts_ms, signal_id]
        window = shadow.placed(seen["window"], entry, c.window)  # in event-time order (shadow.py)
        latest = max(int(seen.get("latest_ts", 0)), resolved_ts_ms)
        seen = {**seen, "window": window, "outcomes": seen["outcomes"] + 1, "latest_ts": latest}
        accuracy = sum(1 for w in window if w[0] == w[1]) / len(window)
        self.metrics.set("live_accuracy", accuracy, model_version=version, partition=str(record.partition))
        baseline = (store.get(f"baseline/{version}") or {}).get("accuracy")
        found: list[tuple[str, float, int, dict[str, Any]]] = []  # reason, threshold, samples, evidence
        if baseline and len(window) >= c.min_samples and accuracy < baseline - c.accuracy_drop:
            evidence = {
                "rolling_accuracy": accuracy,
                "validation_accuracy": baseline,
                "drop": c.accuracy_drop,
            }
            found.append(("accuracy", baseline - c.accuracy_drop, len(window), evidence))
        if version != NO_MODEL and len(window) >= c.min_samples:
            ece = checks.live_ece(window, c.ece_bins)
            if ece > c.max_ece:
                evidence = {"ece": ece, "bound": c.max_ece, "bins": c.ece_bins, "outcomes": len(window)}
                found.append(("calibration", c.max_ece, len(window), evidence))
        if c.retrain_every and seen["outcomes"] >= c.retrain_every:
            found.append(
                ("outcomes", float(c.retrain_every), seen["outcomes"], {"outcomes": seen["outcomes"]})
            )
        outputs = []
        for reason, threshold, samples, evidence in found:
            if reason in seen["triggered"]:
                continue  # this condition was reported already for this version
            seen = {**seen, "triggered": [*seen["triggered"], reason]}
            outputs.append(
                self._trigger(record, version, reason, threshold, accuracy, samples, evidence, now_ms)
            )
        store.put(version, seen)
        if version != NO_MODEL:  # the cold start's constant 0.5 has nothing to measure
            metrics = shadow.champion_metrics(
                version, record.partition, seen["outcomes"], window, c.ece_bins, latest
            )
            outputs.append(self._published(record, metrics))
        return outputs

    def _drift(
        self, record: Record, store: StateStore, event: Mapping[str, Any], now_ms: int
    ) -> list[Output]:
        """Count the features of a scored signal against its model's training distribution; at
        the end of each `drift_window` signals, the PSI of each (a trigger when one is above
        `max_psi`, once per version), then a fresh window."""
        version = event["model_version"]
        shipped = (
            (store.get(f"baseline/{version}") or {}).get("feature_distribution")
            if version != NO_MODEL
            else ""
        )
        expected = checks.parsed(shipped or "")
        if not expected:
            return []
        state = store.get(f"drift/{version}") or {"n": 0, "counts": {}, "triggered": False}
        counts = checks.counted(state["counts"], expected, event["feature_values"])
        if state["n"] + 1 < self.config.drift_window:
            store.put(f"drift/{version}", {**state, "n": state["n"] + 1, "counts": counts})
            return []
        psi, over = checks.drifted(counts, expected, self.config.max_psi)
        store.put(f"drift/{version}", {"n": 0, "counts": {}, "triggered": state["triggered"] or bool(over)})
        if not over or state["triggered"]:
            return []
        evidence = {
            "psi": over,
            "bound": self.config.max_psi,
            "signals": state["n"] + 1,
            "max_psi": max(psi.values()),
        }
        seen = store.get(version) or {"window": [], "outcomes": 0, "triggered": []}
        window = seen["window"]
        accuracy = sum(1 for w in window if w[0] == w[1]) / len(window) if window else 0.0
        return [
            self._trigger(
                record,
                version,
                "feature_drift",
                self.config.max_psi,
                accuracy,
                state["n"] + 1,
                evidence,
                now_ms,
            )
        ]

    def _trigger(
        self,
        record: Record,
        version: str,
        reason: str,
        threshold: float,
        accuracy: float,
        samples: int,
        evidence: dict[str, Any],
        now_ms: int,
    ) -> Output:
        """One RetrainTrigger naming its evidence; its id is the same for the same condition."""
        trigger_id = hashlib.sha256(f"{version}|{reason}|{record.partition}".encode()).hexdigest()[:16]
        trigger = {
            "trigger_id": trigger_id,
            "reason": reason,
            "rolling_accuracy": accuracy,
            "threshold": threshold,
            "samples": samples,
            "model_version": version,
            "triggered_ts_ms": now_ms,
            "evidence": json.dumps(evidence, sort_keys=True),
        }
        self.metrics.count("retrain_triggers", reason=reason)
        headers = {"schema": "RetrainTrigger", "trigger_id": trigger_id}
        return Output(RETRAIN, version, trigger, headers, partition=record.partition)


def create(settings: FleetSettings, edges: Edges) -> LabelerProcessor:
    return LabelerProcessor(settings, edges)
