"""The Nautilus bridge's numbers (docs/nautilus.md): throughput both ways, Kafka record
timestamp -> XADD latency at fixed rates, and the in-process library's process_signal time.

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


def wait(predicate: Any, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the bridge did not keep up")
        time.sleep(0.01)
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
        serde = Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
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
    out["process_signal_us"] = process_signal_times(settings)
    return out


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
    times = []
    for i in range(n):
        s = {
            **enriched(i)["signal"],
            "symbol": f"S{i % 10}",
            "signal_ts_ms": 1_700_000_010_000 + i,
            "features": {"ma_spread": 0.01},
        }
        t = time.perf_counter()
        fleet.process_signal(s)
        times.append((time.perf_counter() - t) * 1e6)
    return {
        "p50": round(float(np.percentile(times, 50)), 1),
        "p99": round(float(np.percentile(times, 99)), 1),
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
