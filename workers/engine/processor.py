"""The pure engine core: execute one planned run through the regime API only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.config import EngineSettings
from workers.contracts.identity import event_id
from workers.regime import (
    ENGINE_VERSION,
    HysteresisParams,
    Params,
    RegimeOutput,
    Snapshot,
    SnapshotError,
    build_snapshot,
    run,
    run_with_hysteresis,
)
from workers.regime.persistence import from_record, to_record
from workers.runtime.records import Output, Record
from workers.state.store import Codec, StoreView

RESULTS = "engine.results"
RUNS = "engine.runs"

# (partition, ingest_seq) -> the buffered RawInputBufferRecord at that offset
BufferLookup = Callable[[int, int], Mapping[str, Any]]


class RunFailure(Exception):
    def __init__(self, domain: str, code: str, message: str, attempts: int = 1) -> None:
        super().__init__(f"{domain}/{code}: {message}")
        self.domain, self.code, self.message, self.attempts = domain, code, message, attempts


class EngineProcessor:
    name = "engine"

    def __init__(self, settings: EngineSettings, lookup: BufferLookup) -> None:
        self.settings = settings
        self.lookup = lookup
        self.hysteresis = settings.mode == "hysteresis"
        self.stores: tuple[str, ...] = ("hysteresis",) if self.hysteresis else ()
        self.hysteresis_params = HysteresisParams(settings.progress_required, settings.min_confidence)
        self.store_codecs: dict[str, Codec] = {}
        self.params = Params(
            trend_threshold=settings.trend_threshold,
            high_vol_ratio=settings.high_vol_ratio,
            vol_lookback=settings.vol_lookback,
            vol_ceiling=settings.vol_ceiling,
        )

    def process(self, record: Record, stores: Mapping[str, StoreView], now_ms: int) -> list[Output]:
        planned = record.value
        if planned["status"] != "PLANNED":
            return []  # our own status updates come back on engine.runs
        started = self._event(planned, "EngineRunStarted")
        decided = None
        try:
            snapshot = self._snapshot(planned, record.partition)
        except RunFailure as exc:
            finished = self._event(planned, "EngineRunFailed")
            finished["error"] = {
                "domain": exc.domain,
                "code": exc.code,
                "message": exc.message,
                "attempts": exc.attempts,
            }
            status = {
                **planned,
                "status": "FAILED",
                "attempt": exc.attempts,
                "error": f"{exc.code}: {exc.message}",
            }
        else:
            if self.hysteresis:
                output, decided = self._run_with_hysteresis(planned, snapshot, stores)
            else:
                output = run(snapshot, self.params)
            finished = self._event(planned, "EngineRunCompleted")
            finished["regime_output"] = output.as_record()
            status = {**planned, "status": "COMPLETED", "attempt": 1}
        outputs = [self._result(started, record.partition), self._result(finished, record.partition)]
        if decided is not None:
            outputs.append(self._result(decided, record.partition))
        status_headers = self._headers(planned, "EngineRunStatus")
        outputs.append(Output(RUNS, planned["run_id"], status, status_headers, partition=record.partition))
        return outputs

    def _run_with_hysteresis(
        self, planned: Mapping[str, Any], snapshot: Snapshot, stores: Mapping[str, StoreView]
    ) -> tuple[RegimeOutput, dict[str, Any] | None]:
        """Run and fold the result into the symbol's hysteresis state. The state change rides in
        the same transaction as the events, so nothing is published without its state."""
        view = stores["hysteresis"]
        raw = view.get(planned["symbol"])
        state = from_record(raw) if raw else None
        if state is not None and state.engine_timestamp_ms >= planned["engine_timestamp_ms"]:
            # A redelivered run (at-least-once): already folded in, never twice.
            return run(snapshot, self.params), None
        observed, decision, new_state = run_with_hysteresis(
            snapshot,
            state,
            symbol=planned["symbol"],
            engine_timestamp_ms=planned["engine_timestamp_ms"],
            run_id=planned["run_id"],
            params=self.params,
            hysteresis=self.hysteresis_params,
        )
        view.put(planned["symbol"], to_record(new_state))
        event = self._event(planned, "HysteresisDecisionPublished")
        event["regime_output"] = observed.as_record()
        event["hysteresis_decision"] = decision.as_record()
        return observed, event

    def _snapshot(self, planned: Mapping[str, Any], partition: int) -> Snapshot:
        if planned["snapshot_ingest_seq"] is None:
            raise RunFailure(
                "engine",
                "NO_SNAPSHOT_INPUTS",
                "the cut holds no SNAPSHOT_INPUTS with as_of_ts_ms <= engine_timestamp_ms",
            )
        if planned["symbol"] in self.settings.fail_symbols:
            raise RunFailure(
                "engine",
                "INJECTED_FAULT",
                "engine.fail_symbols names this symbol",
                self.settings.max_attempts,
            )
        buffered = self.lookup(partition, planned["snapshot_ingest_seq"])
        inputs = buffered["event"].get("snapshot_inputs")
        if inputs is None or buffered["event"]["symbol"] != planned["symbol"]:
            raise RunFailure(
                "engine",
                "BAD_SNAPSHOT_REF",
                f"ingest_seq {planned['snapshot_ingest_seq']} is not this symbol's SNAPSHOT_INPUTS",
            )
        try:
            return build_snapshot(inputs)
        except SnapshotError as exc:
            raise RunFailure("engine", "BAD_SNAPSHOT", str(exc)) from exc

    def _event(self, planned: Mapping[str, Any], event_type: str) -> dict[str, Any]:
        return {
            "schema": "orchestrator_event",
            "schema_version": "1",
            "event_id": event_id(planned["run_id"], event_type),
            "event_type": event_type,
            "run_id": planned["run_id"],
            "symbol": planned["symbol"],
            "engine_timestamp_ms": planned["engine_timestamp_ms"],
            "cut_start_ingest_seq": planned["cut_start_ingest_seq"],
            "cut_end_ingest_seq": planned["cut_end_ingest_seq"],
            "cut_kind": planned["cut_kind"],
            "engine_mode": planned["engine_mode"],
            "regime_output": None,
            "hysteresis_decision": None,
            "error": None,
            "provenance": {
                "input_hash": planned["input_hash"],
                "config_fingerprint": planned["config_fingerprint"],
                "engine_version": ENGINE_VERSION,
                "prev_event_hash": "",
                "event_hash": "",
            },
            "correlation_id": planned["correlation_id"],
            "published_at_ms": 0,
        }

    def _headers(self, planned: Mapping[str, Any], event_type: str) -> dict[str, str]:
        return {
            "event_type": event_type,
            "schema": "EngineRunRecord" if event_type == "EngineRunStatus" else "orchestrator_event",
            "run_id": planned["run_id"],
            "correlation_id": planned["correlation_id"],
        }

    def _result(self, event: dict[str, Any], partition: int) -> Output:
        return Output(
            RESULTS,
            event["symbol"],
            event,
            self._headers(event, event["event_type"]),
            partition=partition,
        )
