"""Cut bookkeeping for one symbol: pure functions over a small JSON-able state.

A cut is the contiguous run of a symbol's buffered records since the previous cut:
[cut_start_ingest_seq, cut_end_ingest_seq], both inclusive, never overlapping.

Boundary mode (event time, epoch-aligned every interval_ms):
  - the first record of a symbol opens boundary B = floor(ts / interval) * interval + interval;
  - a record with event_ts_ms >= B fires ONE run at T = floor(ts / interval) * interval over
    the open cut (every record before this one); the firing record opens the next cut and the
    next boundary is T + interval. Empty intervals produce no run;
  - a late record (event_ts_ms < the last fired T) joins the open cut; it never re-fires.
Snapshot rule: among SNAPSHOT_INPUTS records in the cut with as_of_ts_ms <= T, the greatest
(as_of_ts_ms, ingest_seq). None: the run is still planned, with snapshot_ingest_seq null, and
the engine reports it as EngineRunFailed (code NO_SNAPSHOT_INPUTS).
Input hash: each cut is hashed with the version the scheduler used when the cut opened
(workers/contracts/input_hash.py), kept in the state, so a cut that was open across an upgrade
finishes with the version it started with; a state stored before versions existed is v1.
The state stays small whatever the cut's length: the input hash is a chain, and only the
MAX_SNAPSHOTS greatest snapshot candidates are kept (in boundary mode every candidate has
as_of_ts_ms < T, so the greatest one alone decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.contracts.input_hash import V1, fold

MAX_SNAPSHOTS = 64


@dataclass
class CutState:
    next_boundary: int | None = None
    last_engine_ts: int | None = None
    cut_start: int | None = None
    cut_end: int | None = None
    count: int = 0
    input_hash: str = ""
    input_hash_version: int = V1  # of the open cut; states stored before versions existed: v1
    snapshots: list[list[int]] = field(default_factory=list)  # [as_of_ts_ms, ingest_seq]
    correlation_id: str = ""
    late: int = 0

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> CutState:
        if not raw:
            return cls()
        return cls(**{**raw, "snapshots": [list(s) for s in raw["snapshots"]]})

    def dump(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies and dominated the scheduler's profile.
        return dict(self.__dict__)


@dataclass(frozen=True)
class Cut:
    engine_timestamp_ms: int
    start: int
    end: int
    count: int
    input_hash: str
    snapshot_seq: int | None
    correlation_id: str
    input_hash_version: int


def floor_to(ts: int, interval: int) -> int:
    return (ts // interval) * interval


def append(
    state: CutState,
    seq: int,
    event: Mapping[str, Any],
    correlation_id: str,
    *,
    hash_version: int = V1,
    buffered: Mapping[str, Any] | None = None,
    raw: bytes = b"",
) -> None:
    """Add one buffered record's event (ingest_seq = its offset) to the open cut; a cut it opens
    is hashed with `hash_version`. `buffered` and `raw`: the whole record and its bytes as
    stored, when at hand (v2 then slices the event's bytes instead of encoding them)."""
    if state.last_engine_ts is not None and event["event_ts_ms"] < state.last_engine_ts:
        state.late += 1
    if state.cut_start is None:
        state.cut_start = seq
        state.correlation_id = correlation_id
        state.input_hash_version = hash_version
    state.cut_end = seq
    state.count += 1
    state.input_hash = fold(state.input_hash_version, state.input_hash, event, buffered, raw)
    if event["kind"] == "SNAPSHOT_INPUTS":
        state.snapshots.append([event["snapshot_inputs"]["as_of_ts_ms"], seq])
        if len(state.snapshots) > MAX_SNAPSHOTS:
            state.snapshots.remove(min(state.snapshots))


def close(state: CutState, engine_timestamp_ms: int) -> Cut:
    """Take the open cut for a run at engine_timestamp_ms and reset the state for the next one."""
    assert state.cut_start is not None and state.cut_end is not None
    usable = [s for s in state.snapshots if s[0] <= engine_timestamp_ms]
    cut = Cut(
        engine_timestamp_ms=engine_timestamp_ms,
        start=state.cut_start,
        end=state.cut_end,
        count=state.count,
        input_hash=state.input_hash,
        snapshot_seq=max(usable)[1] if usable else None,
        correlation_id=state.correlation_id,
        input_hash_version=state.input_hash_version,
    )
    state.last_engine_ts = engine_timestamp_ms
    state.cut_start = state.cut_end = None
    state.count, state.input_hash, state.snapshots, state.correlation_id = 0, "", [], ""
    return cut


def on_boundary_record(state: CutState, ts: int, interval: int) -> int | None:
    """Boundary mode, before appending a record at event time ts: the T to fire, if any."""
    fire = None
    if state.cut_start is not None and state.next_boundary is not None and ts >= state.next_boundary:
        fire = floor_to(ts, interval)
        state.next_boundary = fire + interval
    if state.next_boundary is None:
        state.next_boundary = floor_to(ts, interval) + interval
    return fire
