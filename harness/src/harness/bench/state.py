"""State benchmarks: restore of 10,000 symbols (cold from the changelog, warm from local
RocksDB) and hysteresis-mode versus truth-mode engine throughput (on the in-memory driver)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from harness.demo.data import synthetic_intraday
from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.engine.hysteresis_store import HysteresisCodec
from workers.engine.settings import EngineSettings
from workers.processing.driver import Driver
from workers.regime.hysteresis import HysteresisState
from workers.regime.persistence import to_record
from workers.state.changelog import restore
from workers.state.rocksdb import PartitionStore
from workers.topics import BUFFER, RUNS
from workers.topology import load_topology


def restore_times(settings: FleetSettings, symbols: int = 10_000) -> dict[str, float]:
    serde = Serde()
    topic = settings.topic("engine.hysteresis.changelog")
    producer = Producer(clients.producer_config(settings, None))
    for i in range(symbols):
        state = HysteresisState(f"S{i:05d}", "RANGE", None, 0, 3, 0, 1_700_000_000_000 + i, f"run{i}")
        producer.produce(
            topic, serde.encode("HysteresisStoreRecord", to_record(state)), f"S{i:05d}".encode(), partition=0
        )
        if i % 5000 == 0:
            producer.poll(0)
    producer.flush(60)
    root = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    reader = Consumer(clients.reader_config(settings))
    try:
        store = PartitionStore(root / "0", codec=HysteresisCodec(serde))
        cold = restore(store, reader, topic, 0)
        store.close()
        store = PartitionStore(root / "0", codec=HysteresisCodec(serde))
        warm = restore(store, reader, topic, 0)
        assert store.get("S09999" if symbols == 10_000 else f"S{symbols - 1:05d}") is not None
        store.close()
    finally:
        reader.close()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "restore_symbols": symbols,
        "restore_cold_s": cold.seconds,
        "restore_cold_records": cold.records,
        "restore_warm_s": warm.seconds,
    }


def mode_throughput(settings: FleetSettings, runs: int = 3000) -> dict[str, Any]:
    """Pure engine runs/s in both modes over the same planned runs and snapshots."""
    events = [
        e for e in synthetic_intraday(10, runs * 6, snapshot_every=60) if e["kind"] == "SNAPSHOT_INPUTS"
    ][:runs]
    buffer = {i: {"event": e} for i, e in enumerate(events)}
    planned = [
        {
            "run_id": f"r{i}",
            "symbol": e["symbol"],
            "engine_timestamp_ms": e["event_ts_ms"],
            "planned_ts_ms": 0,
            "cut_start_ingest_seq": i,
            "cut_end_ingest_seq": i,
            "cut_kind": "BOUNDARY",
            "snapshot_ingest_seq": i,
            "engine_mode": "TRUTH",
            "engine_version": "v",
            "config_fingerprint": "c",
            "status": "PLANNED",
            "attempt": 0,
            "error": None,
            "input_hash": "",
            "cut_record_count": 1,
            "correlation_id": "",
        }
        for i, e in enumerate(events)
    ]
    out: dict[str, Any] = {}
    topology = load_topology(settings.partitions)
    for mode in ("truth", "hysteresis"):
        moded = settings.model_copy(
            update={"engine": EngineSettings.of(settings).model_copy(update={"mode": mode})}
        )
        driver = Driver.for_fleet(moded, topology, ["engine"])
        for seq, value in buffer.items():
            driver.preload(BUFFER, 0, seq, value["event"]["symbol"], value)
        started = time.perf_counter()
        for p in planned:
            driver.feed(RUNS, p["run_id"], p, partition=0)
        out[f"engine_{mode}_runs_per_s"] = len(planned) / (time.perf_counter() - started)
    out["hysteresis_truth_ratio"] = out["engine_hysteresis_runs_per_s"] / out["engine_truth_runs_per_s"]
    return out
