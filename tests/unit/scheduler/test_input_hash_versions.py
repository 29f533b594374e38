"""Which input hash version a cut gets: new cuts the current one; a cut open across an upgrade
keeps v1 (its state was stored before versions existed); a replay can ask per cut."""

from __future__ import annotations

from harness.demo.data import synthetic_intraday
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.contracts.identity import chain_input_hash
from workers.contracts.input_hash import CURRENT, V1, V2, fold
from workers.processing import Record, StoreView
from workers.replay.pipeline import _recorded_versions
from workers.scheduler.processor import SchedulerProcessor
from workers.state.memory import MemoryStore

INTERVAL = 60_000
EVENTS = [e for e in synthetic_intraday(1, 200) if e["symbol"] == "SYN000"]


def _records(events, *, with_bytes):
    serde = Serde()
    for seq, e in enumerate(events):
        value = {
            "event": e,
            "source_topic": "market.raw",
            "source_partition": 0,
            "source_offset": seq,
            "ingest_ts_ms": 7,
            "correlation_id": "c",
        }
        raw = serde.encode("RawInputBufferRecord", value) if with_bytes else b""
        yield Record("market.buffer", 0, seq, e["symbol"], value, {}, raw)


def _runs(proc, records, store=None):
    store = store or MemoryStore()
    runs = []
    for rec in records:
        view = StoreView(store)
        runs += [o.value for o in proc.process(rec, {"cuts": view}, 0)]
        store.commit(view)
    return runs, store


def _proc():
    return SchedulerProcessor(FleetSettings(scheduler={"mode": "boundary", "interval_ms": INTERVAL}), "v")


def _expected(version, run):
    digest = ""
    for e in EVENTS[run["cut_start_ingest_seq"] : run["cut_end_ingest_seq"] + 1]:
        digest = chain_input_hash(digest, e) if version == V1 else fold(V2, digest, e)
    return digest


def test_new_runs_record_v2_and_hash_the_same_from_bytes_or_from_decoded_records():
    live, _ = _runs(_proc(), _records(EVENTS, with_bytes=True))
    driver, _ = _runs(_proc(), _records(EVENTS, with_bytes=False))
    assert CURRENT == V2 and len(live) == 3
    assert [r["input_hash_version"] for r in live] == [V2] * 3
    assert [r["input_hash"] for r in live] == [r["input_hash"] for r in driver]
    assert all(r["input_hash"] == _expected(V2, r) for r in live)


def test_a_cut_open_across_the_upgrade_finishes_with_v1_and_the_next_one_is_v2():
    records = list(_records(EVENTS, with_bytes=True))
    proc = _proc()
    proc.cut_hash_version = lambda symbol: V1  # the scheduler before the upgrade
    before, store = _runs(proc, records[:90])
    # What that scheduler stored had no version field: take it out, as an old state reads.
    for key in list(store.data):
        store.data[key] = {k: v for k, v in store.data[key].items() if k != "input_hash_version"}
    after, _ = _runs(_proc(), records[90:], store)
    runs = before + after
    assert [r["input_hash_version"] for r in runs] == [V1, V1, V2]
    assert all(r["input_hash"] == _expected(r["input_hash_version"], r) for r in runs)


def test_a_replay_hashes_each_cut_with_the_version_its_recorded_run_has():
    proc = _proc()
    proc.cut_hash_version = _recorded_versions({"SYN000": [V1, V2]})
    runs, _ = _runs(proc, _records(EVENTS, with_bytes=True))
    assert [r["input_hash_version"] for r in runs] == [V1, V2, CURRENT]
    assert all(r["input_hash"] == _expected(r["input_hash_version"], r) for r in runs)
