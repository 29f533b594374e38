"""HysteresisStoreRecord v1 <-> HysteresisState, strict validation, and restore selection.

Corruption rules:
  fatal      the record does not decode, names the wrong schema or version, carries an
             unknown regime, or has inconsistent progress: restore refuses the partition.
  non-fatal  a record older (by engine_timestamp_ms) than the one already held for its
             symbol: skipped and counted. Ties go to the later record in changelog order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workers.regime.classifier import REGIMES
from workers.regime.hysteresis import HysteresisState

SCHEMA = "hysteresis_store_record"
VERSION = "1"


class HysteresisRecordError(ValueError):
    """A persisted record that breaks the v1 contract (fatal corruption)."""


def to_record(state: HysteresisState) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": VERSION,
        "symbol": state.symbol,
        "engine_timestamp_ms": state.engine_timestamp_ms,
        "run_id": state.run_id,
        "current_regime": state.current_regime,
        "candidate_regime": state.candidate_regime,
        "progress": state.progress,
        "progress_required": state.progress_required,
        "anchor_ts_ms": state.anchor_ts_ms,
    }


def from_record(record: Mapping[str, Any]) -> HysteresisState:
    validate(record)
    return HysteresisState(
        symbol=record["symbol"],
        current_regime=record["current_regime"],
        candidate_regime=record["candidate_regime"],
        progress=record["progress"],
        progress_required=record["progress_required"],
        anchor_ts_ms=record["anchor_ts_ms"],
        engine_timestamp_ms=record["engine_timestamp_ms"],
        run_id=record["run_id"],
    )


def validate(record: Mapping[str, Any]) -> None:
    if record.get("schema") != SCHEMA or record.get("schema_version") != VERSION:
        raise HysteresisRecordError(
            f"schema {record.get('schema')!r} v{record.get('schema_version')!r}, want {SCHEMA} v{VERSION}"
        )
    if not record.get("symbol"):
        raise HysteresisRecordError("empty symbol")
    if record.get("current_regime") not in REGIMES:
        raise HysteresisRecordError(f"unknown current_regime {record.get('current_regime')!r}")
    candidate = record.get("candidate_regime")
    if candidate is not None and candidate not in REGIMES:
        raise HysteresisRecordError(f"unknown candidate_regime {candidate!r}")
    required, progress = record.get("progress_required"), record.get("progress")
    if not isinstance(required, int) or required < 1:
        raise HysteresisRecordError(f"progress_required {required!r} must be >= 1")
    if not isinstance(progress, int) or not 0 <= progress < required:
        raise HysteresisRecordError(f"progress {progress!r} outside [0, {required})")
    if (candidate is None) != (progress == 0):
        raise HysteresisRecordError("candidate_regime must be set exactly when progress > 0")


def newer(current: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> bool:
    """Restore rule: does `candidate` (later in changelog order) replace `current`?"""
    return current is None or candidate["engine_timestamp_ms"] >= current["engine_timestamp_ms"]


def select_latest(records: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Mapping[str, Any]], int]:
    """Latest valid record per symbol over records in changelog order, and how many were skipped."""
    latest: dict[str, Mapping[str, Any]] = {}
    skipped = 0
    for record in records:
        validate(record)
        if newer(latest.get(record["symbol"]), record):
            latest[record["symbol"]] = record
        else:
            skipped += 1
    return latest, skipped
