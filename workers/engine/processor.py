"""The pure engine core: execute one planned run through the regime API only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.contracts.identity import event_id
from workers.engine.hysteresis_store import STORE, HysteresisCodec
from workers.engine.settings import EngineSettings
from workers.processing import Edges, Output, ProcessorBase, ReadError, Record, StateStore
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
from workers.topics import BUFFER, RESULTS, RUNS


class RunFailure(Exception):
    def __init__(self, domain: str, code: str, message: str, attempts: int = 1) -> None:
        super().__init__(f"{domain}/{code}: {message}")
        self.domain, self.code, self.message, self.attempts = domain, code, message, attempts


class EngineProcessor(ProcessorBase):
    name = "engine"

    def __init__(self, settings: EngineSettings, edges: Edges | None = None) -> None:
        self.settings = settings
        self.edges = edges or Edges()
        self.metrics = self.edges.metrics
        self.hysteresis = settings.mode == "hysteresis"
        self.stores = {STORE: HysteresisCodec(Serde())} if self.hysteresis else {}
        self.hysteresis_params = HysteresisParams(settings.progress_required, settings.min_confidence)
        self.params = Params(
            trend_threshold=settings.trend_threshold,
            high_vol_ratio=settings.high_vol_ratio,
            vol_lookback=settings.vol_lookback,
            vol_ceiling=settings.vol_ceiling,
        )

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        planned = record.value
        if planned["status"] != "PLANNED":
            return []  # our own status updates come back on engine.runs
        with self.metrics.timer("engine_run_seconds"):
            try:
                snapshot = self._snapshot(planned, record.partition)
            except RunFailure as exc:
                return self._failed(planned, record.partition, exc)
            decided = None
            if self.hysteresis:
                output, decided = self._run_with_hysteresis(planned, snapshot, stores)
            else:
                output = run(snapshot, self.params)
        finished = self._event(planned, "EngineRunCompleted")
        finished["regime_output"] = output.as_record()
        status = {**planned, "status": "COMPLETED", "attempt": 1}
        outputs = [self._result(self._event(planned, "EngineRunStarted"), record.partition)]
        outputs.append(self._result(finished, record.partition))
        if decided is not None:
            outputs.append(self._result(decided, record.partition))
            if decided["hysteresis_decision"]["decision"] == "SWITCH":
                self.metrics.count("hysteresis_switches")
        outputs.append(self._status(planned, status, record.partition))
        return outputs

    def timed_out(self, record: Record, elapsed_ms: int) -> list[Output] | None:
        """An overrun run fails with TIMEOUT (its state changes were rolled back). This
        outcome depends on the machine, so a replay may complete the same run: say so."""
        limit = self.settings.run_timeout_ms
        message = f"the run took {elapsed_ms} ms, more than engine.run_timeout_ms={limit}"
        return self._failed(record.value, record.partition, RunFailure("engine", "TIMEOUT", message))

    def _failed(self, planned: Mapping[str, Any], partition: int, exc: RunFailure) -> list[Output]:
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
        started = self._event(planned, "EngineRunStarted")
        return [
            self._result(started, partition),
            self._result(finished, partition),
            self._status(planned, status, partition),
        ]

    def _status(self, planned: Mapping[str, Any], status: dict[str, Any], partition: int) -> Output:
        self.metrics.count("engine_runs", status=status["status"])
        headers = self._headers(planned, "EngineRunStatus")
        return Output(RUNS, planned["run_id"], status, headers, partition=partition)

    def _run_with_hysteresis(
        self, planned: Mapping[str, Any], snapshot: Snapshot, stores: Mapping[str, StateStore]
    ) -> tuple[RegimeOutput, dict[str, Any] | None]:
        """Run and fold the result into the symbol's hysteresis state. The state change rides in
        the same transaction as the events, so nothing is published without its state."""
        view = stores[STORE]
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
        try:
            buffered = self.edges.reads.get(BUFFER, partition, planned["snapshot_ingest_seq"])
        except ReadError as exc:
            raise RunFailure("buffer", exc.code, exc.message, exc.attempts) from exc
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
            "schema": "EngineRunRecord" if event_type == "EngineRunStatus" else "OrchestratorEvent",
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


def create(settings: FleetSettings, edges: Edges) -> EngineProcessor:
    return EngineProcessor(EngineSettings.of(settings), edges)
