"""The Nautilus bridge's numbers (docs/nautilus.md): throughput both ways, Kafka record
timestamp -> XADD latency at fixed rates, and the in-process library's process_signal time.

Decisions produced to regime.events -> a real node's FleetActor on_data latency at 1,000 and
5,000/s (harness/src/harness/demo/nautilus_node.py).

python -m harness.bench.nautilus [--entries N]   (Kafka at KAFKA_BOOTSTRAP_SERVERS, Redis at
REDIS_URL or the harness's local one)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import redis
from confluent_kafka import Producer

from harness.bench.fresh import fresh_topics
from harness.demo.node_process import NodeProcess
from harness.launcher import Launcher
from workers import clients
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.in_process import InProcessFleet
from workers.nautilus_bridge import entries, payloads
from workers.runtime.topic_io import produce_lines


def enriched(i: int) -> dict[str, Any]:
    return {
        "signal": {
            "signal_id": f"b-{i}", "strategy_id": "b", "symbol": f"S{i % 50}", "signal_ts_ms": 1_700_000_000_000 + i,
            "direction": 1, "strength": 1.0, "price": 10.0, "features": {},
        },
        "meta_confidence": 0.5, "toxicity": 0.0,
    }  # fmt: skip


def wait(predicate: Any, timeout: float, every: float = 0.01) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the bridge did not keep up")
        time.sleep(every)
    return time.monotonic() - start


def run(n: int, root: Path, redis_url: str) -> dict[str, Any]:
    prefix = f"bn{uuid.uuid4().hex[:6]}."
    tag = uuid.uuid4().hex[:6]
    trader, stream, key_prefix = f"BENCH-{tag}", f"bn{tag}:stream", f"bn{tag}:bridge"
    env = {
        **os.environ,
        "REGIME_FLEET_NAUTILUS__REDIS_URL": redis_url,
        "REGIME_FLEET_NAUTILUS__TRADER_IDS": json.dumps([trader]),
        "REGIME_FLEET_NAUTILUS__DELIVERY_STREAM": stream,
        "REGIME_FLEET_NAUTILUS__KEY_PREFIX": key_prefix,
    }
    r = redis.Redis.from_url(redis_url)
    out: dict[str, Any] = {"entries": n}
    with (
        fresh_topics(prefix, root) as (settings, topology),
        Launcher(root / prefix, {**env, **os.environ}) as launcher,
    ):
        # Kafka -> Nautilus: a backlog of n records, then delivered.
        produce_lines(settings, topology, "signals.enriched", (dumps(enriched(i)) for i in range(n)))
        launcher.start("nautilus")
        wait(lambda: r.xlen(stream) > 0, 120)  # started: what follows is the backlog's drain
        took = wait(lambda: r.xlen(stream) >= n, 300)
        out["kafka_to_redis_per_s"] = round(n / took)
        # Nautilus -> Kafka: n TradingSignal entries, until all are acked.
        signals = entries.stream_key(trader, "data.TradingSignal*")
        body = payloads.signal_payload(
            "b", "S1", 1, 10.0, 1_700_000_000_000_000_000, features={"ma_spread": 0.1}
        )
        raw = msgspec.msgpack.encode(
            {**body, "ts_event": str(body["ts_event"]), "ts_init": str(body["ts_init"])}
        )
        pipe = r.pipeline(transaction=False)
        for _ in range(n):
            pipe.xadd(signals, {"topic": b"data.TradingSignal*", "payload": raw})
        start = time.monotonic()
        pipe.execute()
        wait(lambda: _acked(r, signals), 300)
        out["redis_to_kafka_per_s"] = round(n / (time.monotonic() - start))
        # Latency at fixed rates: record timestamp (the produce) -> the XADD's entry time.
        serde = Serde.of(settings)
        producer = Producer(clients.producer_config(settings, None))
        for rate in (1000, 5000):
            r.delete(stream)
            sent = rate * 5
            value = serde.encode("EnrichedSignalEvent", enriched(0), topic=settings.topic("signals.enriched"))
            t0 = time.monotonic()
            for i in range(sent):
                due = t0 + i / rate
                while time.monotonic() < due:
                    time.sleep(0.0005)
                producer.produce(settings.topic("signals.enriched"), key=f"S{i % 50}".encode(), value=value)
                producer.poll(0)
            producer.flush(30)
            wait(lambda sent=sent: r.xlen(stream) >= sent, 120)
            delivered: Any = r.xrange(stream)
            lags = [
                int(eid.split(b"-")[0]) - int(msgspec.msgpack.decode(f[b"payload"])["ts_init"]) // 1_000_000
                for eid, f in delivered
            ]
            out[f"latency_ms_at_{rate}_per_s"] = {
                "p50": float(np.percentile(lags, 50)),
                "p99": float(np.percentile(lags, 99)),
            }
        out["produce_to_on_data_ms"] = node_latency(settings, r, redis_url, trader, stream, root)
    out["process_signal_us"] = process_signal_times(settings)
    return out


def decision(i: int, tag: str) -> dict[str, Any]:
    """A regime.events EngineRunCompleted with its own event_id (the Actor drops repeated ids)."""
    ts = 1_700_000_000_000 + i
    return {
        "event_id": f"{tag}-{i}", "event_type": "EngineRunCompleted", "schema": "orchestrator_event",
        "schema_version": "1", "symbol": f"S{i % 50}", "run_id": f"{tag}-r{i}", "correlation_id": "b",
        "engine_timestamp_ms": ts, "cut_start_ingest_seq": i, "cut_end_ingest_seq": i + 1,
        "cut_kind": "BOUNDARY", "engine_mode": "TRUTH", "published_at_ms": 0,
        "provenance": {"input_hash": "i", "config_fingerprint": "c", "engine_version": "v",
                       "prev_event_hash": "", "event_hash": ""},
        "regime_output": {"regime": "BULL", "confidence": 0.8, "features": {}, "reason_codes": []},
        "hysteresis_decision": None, "error": None,
    }  # fmt: skip


def node_latency(
    settings: Any, r: redis.Redis, redis_url: str, trader: str, stream: str, root: Path
) -> dict[str, dict[str, float]]:
    """Decisions produced to regime.events at fixed rates -> a real node's FleetActor on_data.

    The record's timestamp is taken at the produce call, before the commit, so the numbers
    bound commit -> on_data from above (they include the producer's linger.ms)."""
    node = NodeProcess(redis_url, trader, stream, root / "node.jsonl", seconds=600, quiet=True)
    serde = Serde.of(settings)
    producer = Producer(clients.producer_config(settings, None))
    topic = settings.topic("regime.events")

    by_tag: dict[str, list[dict[str, Any]]] = {}
    counted = [0]  # of the node's lines, those sorted by tag

    def heard(tag: str) -> list[dict[str, Any]]:
        lines = node.heard()
        for h in lines[counted[0] :]:
            by_tag.setdefault(str(h.get("event_id", "")).split("-")[0], []).append(h)
        counted[0] = len(lines)
        return by_tag.get(tag, [])

    def send(tag: str, count: int, rate: float) -> None:
        t0 = time.monotonic()
        for i in range(count):
            while time.monotonic() < t0 + i / rate:
                time.sleep(0.0005)
            value = serde.encode("OrchestratorEvent", decision(i, tag), topic=topic)
            producer.produce(topic, key=f"S{i % 50}".encode(), value=value)
            producer.poll(0)
        producer.flush(30)

    result: dict[str, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + 120
        while not heard("warm"):  # the node is up and its ingress reads the stream
            if time.monotonic() > deadline:
                raise TimeoutError("the Nautilus node never heard a decision")
            send("warm", 1, 1000)
            time.sleep(0.5)
        for rate in (1000, 5000):
            tag, sent = f"at{rate}", rate * 5
            send(tag, sent, rate)
            wait(lambda tag=tag, sent=sent: len(heard(tag)) >= sent, 300, every=0.1)
            lags = [(h["heard_ns"] - h["ts_init"]) / 1e6 for h in heard(tag)]
            result[f"at_{rate}_per_s"] = {
                "p50": round(float(np.percentile(lags, 50)), 1),
                "p99": round(float(np.percentile(lags, 99)), 1),
            }
    finally:
        node.stop()
    return result


def _acked(r: redis.Redis, stream: str) -> bool:
    """Every entry read by the group and none pending: all produced and committed."""
    groups: Any = r.xinfo_groups(stream)
    last: Any = r.xrevrange(stream, count=1)
    return (
        bool(groups and last)
        and groups[0]["last-delivered-id"] == last[0][0]
        and int(groups[0]["pending"]) == 0
    )


def process_signal_times(settings: Any, n: int = 3000) -> dict[str, float]:
    fleet = InProcessFleet(settings, workers=["ingest", "enricher"])
    fleet.market(
        {"event_id": f"t{i}", "symbol": f"S{i % 10}", "event_ts_ms": 1_700_000_000_000 + i, "kind": "TRADE",
         "trade": {"price": 10.0 + i % 7 / 10, "size": 1.0, "side": "BUY"}, "quote": None, "bar": None,
         "snapshot_inputs": None, "source": ""}
        for i in range(2000)
    )  # fmt: skip

    def signal(i: int) -> dict[str, Any]:
        return {
            **enriched(i)["signal"],
            "symbol": f"S{i % 10}",
            "signal_ts_ms": 1_700_000_010_000 + i,
            "features": {"ma_spread": 0.01},
        }

    for i in range(10):  # one signal per symbol first: its first one builds the symbol's state
        fleet.process_signal(signal(i))
    wall, cpu = [], []
    for i in range(10, n + 10):
        s = signal(i)
        t, c = time.perf_counter(), time.thread_time()
        fleet.process_signal(s)
        wall.append((time.perf_counter() - t) * 1e6)
        cpu.append((time.thread_time() - c) * 1e6)
    # wall includes the time the OS gives other processes (a loaded machine's p99); cpu does not
    return {
        "p50": round(float(np.percentile(wall, 50)), 1),
        "p99": round(float(np.percentile(wall, 99)), 1),
        "cpu_p50": round(float(np.percentile(cpu, 50)), 1),
        "cpu_p99": round(float(np.percentile(cpu, 99)), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=20_000)
    a = p.parse_args()
    url = os.environ.get("REDIS_URL")
    if not url:
        from harness.redis.local import LocalRedis

        url = LocalRedis(port=int(os.environ.get("REDIS_PORT", "6399"))).up()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(a.entries, Path(tmp), url), indent=1))


if __name__ == "__main__":
    main()
