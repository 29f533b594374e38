from __future__ import annotations

from tests.samples import planned_run
from workers.config import EngineSettings
from workers.demo.data import index_events
from workers.engine.processor import EngineProcessor
from workers.runtime.records import Record
from workers.state.memory import MemoryStore
from workers.state.store import StoreView

SNAPS = [e for e in index_events("SPX", days=30, window=20) if e["kind"] == "SNAPSHOT_INPUTS"]


def _planned(i, seq):
    return planned_run(
        run_id=f"r{i}",
        symbol="SPX",
        engine_timestamp_ms=SNAPS[i]["event_ts_ms"] + 1,
        cut_start_ingest_seq=i,
        cut_end_ingest_seq=i,
        snapshot_ingest_seq=seq,
        correlation_id="corr",
    )


def _engine(**settings):
    buffer = {i: {"event": e} for i, e in enumerate(SNAPS)}
    return EngineProcessor(EngineSettings(**settings), lambda _p, seq: buffer[seq])


def _run(engine, planned, stores=None):
    return engine.process(Record("engine.runs", 0, 0, planned["run_id"], planned, {}), stores or {}, 0)


def test_completed_run_emits_started_completed_and_status():
    outs = _run(_engine(), _planned(0, 0))
    assert [(o.topic, o.value.get("event_type") or o.value["status"]) for o in outs] == [
        ("engine.results", "EngineRunStarted"),
        ("engine.results", "EngineRunCompleted"),
        ("engine.runs", "COMPLETED"),
    ]
    assert outs[1].value["regime_output"]["regime"] in ("TREND_UP", "TREND_DOWN", "RANGE", "HIGH_VOLATILITY")
    assert all(o.partition == 0 for o in outs) and outs[0].value["correlation_id"] == "corr"


def test_typed_failures_no_snapshot_and_injected_fault():
    no_snap = _run(_engine(), _planned(0, None))
    assert (
        no_snap[1].value["error"]["code"] == "NO_SNAPSHOT_INPUTS" and no_snap[2].value["status"] == "FAILED"
    )
    fault = _run(_engine(fail_symbols=["SPX"], max_attempts=4), _planned(0, 0))
    assert fault[1].value["error"] == {
        "domain": "engine",
        "code": "INJECTED_FAULT",
        "message": "engine.fail_symbols names this symbol",
        "attempts": 4,
    }


def test_status_records_are_ignored():
    assert _run(_engine(), {**_planned(0, 0), "status": "COMPLETED"}) == []


def test_hysteresis_mode_folds_each_run_once():
    engine = _engine(mode="hysteresis", progress_required=2)
    view = StoreView(MemoryStore())
    first = _run(engine, _planned(0, 0), {"hysteresis": view})
    assert first[2].value["event_type"] == "HysteresisDecisionPublished"
    assert first[2].value["hysteresis_decision"]["decision"] == "INIT"
    assert view.get("SPX")["schema"] == "hysteresis_store_record"
    again = _run(engine, _planned(0, 0), {"hysteresis": view})  # a redelivery
    assert [o.value.get("event_type") for o in again if o.topic == "engine.results"] == [
        "EngineRunStarted",
        "EngineRunCompleted",
    ]
