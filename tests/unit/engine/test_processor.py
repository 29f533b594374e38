from __future__ import annotations

from harness.demo.data import index_events
from tests.faults import InjectedFaults
from tests.samples import planned_run
from workers.engine.processor import EngineProcessor
from workers.engine.settings import EngineSettings
from workers.processing import Edges, Record, StoreView
from workers.processing.driver import Driver
from workers.state.memory import MemoryStore
from workers.topology import load_topology

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


def _engine(fail_symbols=(), **settings):
    driver = Driver(load_topology(1))
    for i, e in enumerate(SNAPS):
        driver.preload("market.buffer", 0, i, "SPX", {"event": e})
    engine_settings = EngineSettings(**settings)
    faults = InjectedFaults(
        "engine", fail_symbols=frozenset(fail_symbols), attempts=engine_settings.max_attempts
    )
    return EngineProcessor(engine_settings, faults.edges(Edges(reads=driver)))


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
        "domain": "buffer",
        "code": "INJECTED_FAULT",
        "message": "the test's fault injector fails reads of SPX",
        "attempts": 4,
    }
    assert fault[2].value["status"] == "FAILED"


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


def test_a_missing_snapshot_record_fails_the_run_with_the_read_error():
    outs = _run(_engine(), _planned(0, 999))
    assert outs[1].value["error"]["code"] == "NO_SUCH_RECORD" and outs[1].value["error"]["domain"] == "buffer"


def test_a_run_over_its_timeout_fails_with_timeout():
    planned = _planned(0, 0)
    outs = _engine(run_timeout_ms=5).timed_out(Record("engine.runs", 0, 0, "r0", planned, {}), 12)
    assert [o.value.get("event_type") or o.value["status"] for o in outs] == [
        "EngineRunStarted",
        "EngineRunFailed",
        "FAILED",
    ]
    assert outs[1].value["error"]["code"] == "TIMEOUT" and "12 ms" in outs[1].value["error"]["message"]
