"""The pure enricher core: every valid SignalEvent becomes exactly one EnrichedSignalEvent.

Its four inputs are co-partitioned by symbol (models too: the trainer writes each model to
every partition). Per partition it keeps, in stores with changelogs:
  market     symbol -> market state (pending trades and bars, return windows, VPIN)
  regimes    symbol -> regime table (the last decisions, in engine time)
  partition  "model" (the active model's record fields), "booster" (its UBJSON bytes),
             "challenger", "challenger_booster" (a model scored in shadow, workers/enricher/models.py),
             "positions" (the last offset seen on each other input: a signal's provenance)

An enrichment depends only on recorded inputs: the market records up to the recorded offset
whose event time is at or before the signal's, the regime decided as of the signal's event
time, and the model active in the partition. A replay that feeds the inputs up to the
recorded positions gets the same event (workers/replay/enriched.py). With a challenger, each
enriched signal also gets a ShadowScore on signals.shadow; the enriched event is the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.enricher import market, regimes
from workers.enricher.features import FeatureSpace, packed, present
from workers.enricher.market import MarketParams
from workers.enricher.models import CHALLENGER, CHAMPION, Models
from workers.enricher.settings import EnricherSettings
from workers.enricher.signals import rejection
from workers.enricher.vpin import VpinParams
from workers.enricher.weights import regime_weight
from workers.ingest.settings import IngestSettings
from workers.meta_model import COLD_CONFIDENCE, NO_MODEL, LoadedModel, ModelRejected
from workers.processing import Edges, JsonCodec, Output, ProcessorBase, Record, StateStore, dead_letter
from workers.topics import BUFFER, ENRICHED, EVENTS, FLEET_DLQ, MODELS, SHADOW, SIGNALS

ENRICHER_VERSION = "1"
Row = tuple[dict[str, Any], list[float], regimes.RegimeAsOf]
Apply = Callable[[Record, Any], "dict[str, Any] | None"]  # a value with a record applied (None: as it was)
MARKET, REGIMES, PARTITION = "market", "regimes", "partition"
POSITIONS = {BUFFER: "buffer_offset", EVENTS: "regime_offset", MODELS: "models_offset"}
SLOTS = {"live": CHAMPION, "challenger": CHALLENGER}  # ModelRecord.status -> the slot it fills


class EnricherProcessor(ProcessorBase):
    name = "enricher"
    punctuate_interval_ms = 5000  # the model gauges

    def __init__(self, settings: FleetSettings, edges: Edges | None = None) -> None:
        config = EnricherSettings.of(settings)
        self.config = config
        self.metrics = (edges or Edges()).metrics
        self.stores = {MARKET: JsonCodec(), REGIMES: JsonCodec(), PARTITION: JsonCodec()}
        self.market_params = MarketParams(
            return_horizons=tuple(config.return_horizons),
            vol_horizons=tuple(config.vol_horizons),
            max_pending=config.max_pending,
            vpin=VpinParams(
                buckets=config.vpin_buckets,
                buckets_per_day=config.vpin_buckets_per_day,
                bucket_volume=config.vpin_bucket_volume,
                adv_days=config.vpin_adv_days,
                sigma_halflife=config.vpin_sigma_halflife,
            ),
        )
        self.space = FeatureSpace(tuple(self.market_params.feature_names()), tuple(config.signal_features))
        self.feature_names = self.space.names
        self._names_digest = hashlib.sha256(",".join(self.feature_names).encode())
        self.ts_bounds = (
            IngestSettings.of(settings).min_event_ts_ms,
            IngestSettings.of(settings).max_event_ts_ms,
        )
        self.fingerprint = config.fingerprint()
        self.models = Models(self.feature_names)
        # Calibrated scores computed ahead for a batch, by (model key, packed row): a pure memo.
        self._scored: dict[tuple[str, bytes], float] = {}
        # Rows computed ahead, by (partition, offset), with the store values they came from.
        self._rows: dict[tuple[int, int], tuple[Any, Any, Row]] = {}
        # Market states and regime tables computed ahead, by (topic, partition, offset): the
        # value the record was applied to and what it gave (None: unchanged).
        self._applied: dict[tuple[str, int, int], tuple[Any, Any]] = {}

    def look_ahead(self, records: Sequence[Record], views: Callable[[int], Mapping[str, StateStore]]) -> None:
        """Score the batch's signals in one call per model (the models as the batch begins).
        The batch's market and regime records are applied ahead, on the side (nothing is
        written), so each row is the one processing computes and processing takes these values
        when it applies the same record to the very same value. A signal whose model changes
        by then (a model swap) misses the memo and is scored alone: same result."""
        self._scored, self._rows, self._applied = {}, {}, {}
        wanted = {(r.partition, r.value["symbol"]) for r in records if r.topic == SIGNALS}
        ahead: dict[int, _Ahead] = {}
        groups: dict[tuple[str, ...], tuple[list[LoadedModel], list[list[float]], list[bytes]]] = {}
        for record in records:
            if record.topic == BUFFER:
                symbol = record.value["event"]["symbol"]
            elif record.topic in (SIGNALS, EVENTS):
                symbol = record.value["symbol"]
            else:
                continue
            if (record.partition, symbol) not in wanted:
                continue  # no signal of this batch reads it
            part = ahead.get(record.partition)
            if part is None:
                part = ahead[record.partition] = self._ahead(views(record.partition))
            if not part.models:
                continue
            if record.topic == BUFFER:
                self._apply_ahead(record, part, MARKET, symbol, self._held)
            elif record.topic == EVENTS:
                self._apply_ahead(record, part, REGIMES, symbol, self._recorded)
            elif self._rejection(record) is None:
                state = part.get(MARKET, symbol)
                if state is None:
                    continue
                caught_up, row, _ = self._row(record, state, part.get(REGIMES, symbol), ahead=True)
                if caught_up["pending"] != state["pending"]:  # as processing puts it
                    part.put(MARKET, symbol, caught_up)
                group = groups.setdefault(tuple(m.key for m in part.models), (part.models, [], []))
                group[1].append(row)
                group[2].append(packed(row))
        for models, rows, keys in groups.values():
            matrix = np.asarray(rows, dtype=np.float32)  # built once for every model
            for model in models:
                for key, score in zip(keys, model.predict_many(matrix), strict=True):
                    self._scored[(model.key, key)] = score

    def _ahead(self, stores: Mapping[str, StateStore]) -> _Ahead:
        models = [self.models.active(stores[PARTITION], s) for s in (CHAMPION, CHALLENGER)] if stores else []
        return _Ahead(stores, [m for m in models if m is not None])

    def _apply_ahead(self, record: Record, part: _Ahead, store: str, key: str, apply: Apply) -> None:
        before = part.get(store, key)
        after = apply(record, before)
        self._applied[(record.topic, record.partition, record.offset)] = (before, after)
        part.put(store, key, after)

    def _apply(self, record: Record, before: Any, apply: Apply) -> Any:
        """apply(record, before), or what the look-ahead got applying this record to this very
        value (store values are never changed in place)."""
        known = self._applied.pop((record.topic, record.partition, record.offset), None)
        if known is not None and known[0] is before:
            return known[1]
        return apply(record, before)

    def punctuate(self, partition: int, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        """The partition's active model on the metrics (also after a restore): its version and
        its wall-clock age."""
        active = stores[PARTITION].get("model")
        if active:
            labels = {"partition": str(partition)}
            self.metrics.set("model_info", 1, model_version=active["model_version"], **labels)
            self.metrics.set("model_age_seconds", max(now_ms - active["trained_ts_ms"], 0) / 1000, **labels)
        return []

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        if record.topic == SIGNALS:
            return self._signal(record, stores, now_ms)
        partition = stores[PARTITION]
        positions = dict(partition.get("positions") or dict.fromkeys(POSITIONS.values(), -1))
        positions[POSITIONS[record.topic]] = record.offset
        partition.put("positions", positions)
        if record.topic == BUFFER:
            self._market(record, stores[MARKET])
        elif record.topic == EVENTS:
            table = self._apply(record, stores[REGIMES].get(record.value["symbol"]), self._recorded)
            if table is not None:
                stores[REGIMES].put(record.value["symbol"], table)
        elif record.topic == MODELS:
            return self._model(record, partition)
        return []

    # -- market data and models ----------------------------------------------------------

    def _market(self, record: Record, store: StateStore) -> None:
        symbol = record.value["event"]["symbol"]
        held = self._apply(record, store.get(symbol), self._held)
        if held is not None:
            store.put(symbol, held)

    def _held(self, record: Record, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The symbol's market state with a market.buffer record held; None: unchanged."""
        obs = market.observation(record.offset, record.value)
        if obs is not None:
            return market.hold(state or market.empty(self.market_params), obs, self.market_params)
        if state is None:  # a quote or a snapshot: the symbol is known, nothing to fold
            return market.empty(self.market_params)
        return None

    def _recorded(self, record: Record, table: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The symbol's regime table with a regime event in it; None: unchanged."""
        return regimes.record(
            table or regimes.empty(),
            record.value,
            record.offset,
            self.config.regime_history,
            self.config.regime_history_ms,
        )

    def _model(self, record: Record, partition: StateStore) -> list[Output]:
        value = record.value
        slot = SLOTS.get(value.get("status", "live"))
        if value["model_name"] != self.config.model_name or slot is None:
            return []  # another model's record, or a candidate the trainer rejected
        replaced = partition.get(slot)
        try:
            model = self.models.verify(value, partition, slot)
        except ModelRejected as exc:
            self.metrics.count("model_rejections", reason=exc.reason)
            return [
                dead_letter(record, FLEET_DLQ, exc.reason, f"model {value['model_version']}: {exc.message}")
            ]
        if model is None:
            return []  # the model that slot holds already (a republish or a redelivery)
        self.models.keep(partition, slot, value, model, record.offset)
        if slot == CHALLENGER:
            return []
        self.metrics.count("model_swaps")
        if replaced:
            self.metrics.set(
                "model_info", 0, partition=str(record.partition), model_version=replaced["model_version"]
            )
        self.metrics.set("model_info", 1, partition=str(record.partition), model_version=model.version)
        return []

    # -- signals -------------------------------------------------------------------------

    def _rejection(self, record: Record) -> tuple[str, str] | None:
        return rejection(
            record.key,
            record.value,
            required=self.config.signal_features,
            max_features=self.config.max_signal_features,
            ts_bounds=self.ts_bounds,
        )

    def _row(self, record: Record, state: Mapping[str, Any], table: Any, ahead: bool = False) -> Row:
        """(the market state caught up to the signal's time, its feature row, its regime).
        A row computed ahead for this record is reused only when the store values it came
        from are the very same objects (store values are never changed in place)."""
        signal = record.value
        key = (record.partition, record.offset)
        known = self._rows.pop(key, None)
        if known is not None and known[0] is state and known[1] is table:
            return known[2]
        caught_up = market.catch_up(state, signal["signal_ts_ms"], self.market_params)
        regime = regimes.as_of(table, signal["signal_ts_ms"])
        found = caught_up, self.space.row(signal, caught_up["features"], regime), regime
        if ahead:
            self._rows[key] = (state, table, found)
        return found

    def _signal(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        signal = record.value
        rejected = self._rejection(record)
        if rejected is not None:
            return self._reject(record, *rejected)
        state = stores[MARKET].get(signal["symbol"])
        if state is None:
            return self._reject(record, "UNKNOWN_SYMBOL", f"no market data for {signal['symbol']!r} here yet")
        with self.metrics.timer("enrichment_seconds", stage="total"):
            with self.metrics.timer("enrichment_seconds", stage="features"):
                table = stores[REGIMES].get(signal["symbol"])
                caught_up, row, regime = self._row(record, state, table)
                row_bytes = packed(row)
                if caught_up["pending"] != state["pending"]:
                    stores[MARKET].put(signal["symbol"], caught_up)
            with self.metrics.timer("enrichment_seconds", stage="predict"):
                model = self.models.active(stores[PARTITION])
                confidence = COLD_CONFIDENCE if model is None else self._score(model, row, row_bytes)
                challenger = self.models.active(stores[PARTITION], CHALLENGER)
                shadow = None if challenger is None else self._score(challenger, row, row_bytes)
        self.metrics.count("signals_enriched")
        feature_hash = self._names_digest.copy()
        feature_hash.update(row_bytes)  # = features.row_hash(names, row), names hashed once
        event = self._enriched(record, caught_up, regime, row, model, confidence, stores[PARTITION], now_ms)
        event["provenance"]["feature_hash"] = feature_hash.hexdigest()
        if regime.reason:  # additive: absent (the schema's default "") when the regime is known
            event["regime_reason"] = regime.reason
        headers = {
            "schema": "EnrichedSignalEvent",
            "signal_id": signal["signal_id"],
            "model_version": event["model_version"],
        }
        outputs = [Output(ENRICHED, signal["symbol"], event, headers, partition=record.partition)]
        if challenger is not None and shadow is not None:
            outputs.append(self._shadow(record, event, challenger, shadow))
        return outputs

    def _score(self, model: LoadedModel, row: list[float], row_bytes: bytes) -> float:
        """The model's calibrated score of the row: from the batch's look-ahead, else alone."""
        known = self._scored.get((model.key, row_bytes))  # a pure memo: equal rows score alike
        return known if known is not None else model.predict(row)

    def _shadow(
        self, record: Record, event: Mapping[str, Any], challenger: LoadedModel, confidence: float
    ) -> Output:
        """The challenger's score of the row the champion scored: on signals.shadow, never sized."""
        signal = event["signal"]
        score = {
            "signal_id": signal["signal_id"],
            "symbol": signal["symbol"],
            "signal_ts_ms": signal["signal_ts_ms"],
            "direction": signal["direction"],
            "model_version": challenger.version,
            "meta_confidence": confidence,
            "model_sha256": challenger.sha256,
            "champion_version": event["model_version"],
            "champion_confidence": event["meta_confidence"],
            "feature_hash": event["provenance"]["feature_hash"],
            "signal_partition": record.partition,
            "signal_offset": record.offset,
        }
        self.metrics.count("shadow_scores")
        headers = {
            "schema": "ShadowScore",
            "signal_id": signal["signal_id"],
            "model_version": challenger.version,
        }
        return Output(SHADOW, signal["symbol"], score, headers, partition=record.partition)

    def _reject(self, record: Record, code: str, message: str) -> list[Output]:
        self.metrics.count("signals_rejected", error_code=code)
        return [dead_letter(record, FLEET_DLQ, code, message)]

    def _enriched(
        self,
        record: Record,
        state: Mapping[str, Any],
        regime: regimes.RegimeAsOf,
        row: list[float],
        model: LoadedModel | None,
        confidence: float,
        partition: StateStore,
        now_ms: int,
    ) -> dict[str, Any]:
        signal = record.value
        toxicity_buckets = int(state["features"]["vpin_buckets"])
        positions = partition.get("positions") or dict.fromkeys(POSITIONS.values(), -1)
        return {
            "signal": dict(signal),
            "meta_confidence": confidence,
            "toxicity": state["features"]["vpin"] if toxicity_buckets else 0.0,
            "regime": regime.regime,
            "regime_weight": regime_weight(
                regime.regime if regime.known else None,
                regime.confidence,
                signal["direction"],
                self.config.regime_weights,
                self.config.unknown_regime_weight,
            ),
            "model_version": model.version if model else NO_MODEL,
            "enriched_at_ms": now_ms,
            "regime_confidence": regime.confidence,
            "toxicity_buckets": toxicity_buckets,
            "feature_values": present(self.feature_names, row),
            "provenance": {
                "signal_partition": record.partition,
                "signal_offset": record.offset,
                "regime_event_id": regime.event_id,
                "regime_since_ms": regime.since_ms,
                "model_sha256": model.sha256 if model else "",
                **positions,
                "folded_offset": state["folded_offset"],
                "market_through_ms": state["through_ms"],
                "feature_hash": "",
                "config_fingerprint": self.fingerprint,
                "enricher_version": ENRICHER_VERSION,
            },
        }


class _Ahead:
    """A partition as the look-ahead sees it: its models as the batch begins, and the market
    states and regime tables the batch's records leave, read through to the store views and
    written here only (processing writes the views)."""

    def __init__(self, stores: Mapping[str, StateStore], models: list[LoadedModel]) -> None:
        self.stores, self.models = stores, models
        self.values: dict[tuple[str, str], Any] = {}

    def get(self, store: str, key: str) -> Any:
        found = self.values.get((store, key))
        return self.stores[store].get(key) if found is None else found

    def put(self, store: str, key: str, value: Any) -> None:
        if value is not None:
            self.values[(store, key)] = value


def create(settings: FleetSettings, edges: Edges) -> EnricherProcessor:
    return EnricherProcessor(settings, edges)
