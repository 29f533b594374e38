"""The Nautilus bridge against a real Kafka, a real Redis and a real NautilusTrader node
(docs/nautilus.md): exactly-once both ways across a SIGKILL of the bridge and a Redis restart,
malformed entries dead-lettered, and a node's Actor hearing each enriched signal once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest
import redis

from harness.launcher import free_port
from tests.integration.fleet import Fleet, http_get, worker_status
from tests.samples import regime_event, trade_event
from workers.nautilus_bridge import entries, payloads

pytestmark = pytest.mark.integration
BRIDGE = "nautilus"


class Keys:
    """One test's Redis names, so tests share a server without meeting."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.trader = f"TRADER-{tag}"  # Nautilus trader ids need a hyphen
        self.delivery = f"rf{tag}:stream"
        self.prefix = f"rf{tag}:bridge"
        self.signals = entries.stream_key(self.trader, "data.TradingSignal*")

    def settings(self, url: str) -> dict[str, str]:
        return {
            "nautilus__redis_url": url,
            "nautilus__trader_ids": json.dumps([self.trader]),
            "nautilus__delivery_stream": self.delivery,
            "nautilus__key_prefix": self.prefix,
            "nautilus__batch_size": "5",  # many small transactions: a kill lands mid-stream
            "nautilus__redis_retry": json.dumps(
                {"base_delay_s": 0.05, "max_delay_s": 0.5, "max_attempts": 1000}
            ),
        }


def start_bridge(fleet: Fleet, name: str = BRIDGE) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    return fleet.launcher.start(BRIDGE, name, port=port), port


def signal_fields(i: int, symbols: int) -> dict[str, bytes]:
    body = payloads.signal_payload(
        "s1",
        f"SYM{i % symbols}",
        1 if i % 2 else -1,
        100.0 + i,
        (1_700_000_000_000 + i * 1000) * payloads.NS_PER_MS,
    )
    return {
        "topic": b"data.TradingSignal*",
        "payload": msgspec.msgpack.encode(
            {**body, "ts_event": str(body["ts_event"]), "ts_init": str(body["ts_init"])}
        ),
    }


def enriched(i: int, symbols: int) -> dict[str, Any]:
    return {
        "signal": {
            "signal_id": f"sig-{i}",
            "strategy_id": "s1",
            "symbol": f"SYM{i % symbols}",
            "signal_ts_ms": 1_700_000_000_000 + i,
            "direction": 1,
            "strength": 1.0,
            "price": 100.0 + i,
            "features": {},
        },
        "meta_confidence": 0.5,
        "toxicity": 0.0,
    }


def delivered(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    out = []
    for _, fields in client.xrange(stream):
        body = msgspec.msgpack.decode(fields[b"payload"])
        out.append(body)
    return out


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, redis.RedisError):  # a server still starting or restarting
            pass
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def kafka_values(fleet: Fleet, topic: str, expected: int) -> list[dict[str, Any]]:
    return [r["value"] for r in fleet.consume(topic, expected, timeout=60)]


def dlq_headers(fleet: Fleet, expected: int) -> list[dict[str, str]]:
    return [r["headers"] for r in fleet.consume("fleet.dlq", expected, timeout=30)]


def test_gap_free_both_ways_across_a_bridge_sigkill_and_a_redis_restart(
    fleet_factory: Any, redis_url: str
) -> None:
    keys = Keys()
    fleet: Fleet = fleet_factory(**keys.settings(redis_url))
    client = redis.Redis.from_url(redis_url)
    n, k = 1000, 4
    half = n // 2
    fleet.produce("signals.enriched", [enriched(i, k) for i in range(half)])
    for i in range(half):
        client.xadd(keys.signals, signal_fields(i, k))
    bridge, _ = start_bridge(fleet)
    wait_for(lambda: client.xlen(keys.delivery) > 0, 60, "the first deliveries", every=0.002)
    bridge.send_signal(signal.SIGKILL)  # mid-stream
    bridge.wait(10)
    print(
        f"SIGKILL with {client.xlen(keys.delivery)} of {half} delivered, {client.xpending(keys.signals, 'regime-fleet')}"
    )
    bridge, port = start_bridge(fleet, "bridge2")
    wait_for(lambda: worker_status(port)["ready"], 60, "the restarted bridge to be ready")
    for i in range(half, n):
        client.xadd(keys.signals, signal_fields(i, k))
    fleet.produce("signals.enriched", [enriched(i, k) for i in range(half, n)])

    local = _local_redis(redis_url)
    if local is not None:  # a Redis restart mid-stream (a REDIS_URL of your own is not restarted)
        print(f"Redis restart with {client.xlen(keys.delivery)} of {n} delivered")
        local.down()
        wait_for(lambda: not worker_status(port)["ready"], 30, "the bridge to turn not ready")
        assert "redis unavailable" in json.dumps(worker_status(port)["pause_reasons"])
        local.up()
        client = redis.Redis.from_url(redis_url)
    wait_for(lambda: client.xlen(keys.delivery) >= n, 90, f"{n} deliveries")
    wait_for(lambda: worker_status(port)["ready"], 30, "the bridge to be ready again")

    bodies = delivered(client, keys.delivery)
    ids = [b["signal_id"] for b in bodies]
    assert len(ids) == n and set(ids) == {f"sig-{i}" for i in range(n)}, "0 missing, 0 duplicates"
    for sym in range(k):  # per symbol in Kafka order
        offsets = [(b["kafka_partition"], b["kafka_offset"]) for b in bodies if b["symbol"] == f"SYM{sym}"]
        assert offsets == sorted(offsets)
    raw = kafka_values(fleet, "signals.raw", n)
    expected_ids = {entries.signal_id(keys.signals, eid.decode()) for eid, _ in client.xrange(keys.signals)}
    assert {r["signal_id"] for r in raw} == expected_ids, "every entry reached signals.raw"
    assert client.xpending(keys.signals, "regime-fleet")["pending"] == 0, "every entry acked"
    metrics = http_get(port, "/metrics")[1]
    assert 'regime_fleet_bridge_entries_total{outcome="acked"}' in metrics
    assert "regime_fleet_bridge_redis_connected 1.0" in metrics
    assert 'regime_fleet_bridge_delivered_total{type="EnrichedSignal"}' in metrics
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(30) == 0


def test_malformed_entries_are_dead_lettered_and_the_stream_keeps_flowing(
    fleet_factory: Any, redis_url: str
) -> None:
    keys = Keys()
    fleet: Fleet = fleet_factory(**keys.settings(redis_url))
    client = redis.Redis.from_url(redis_url)
    good = [client.xadd(keys.signals, signal_fields(i, 2)) for i in range(3)]
    wrong_type = dict(
        signal_fields(3, 2), payload=msgspec.msgpack.encode({"type": "QuoteTick", "ts_event": "1"})
    )
    client.xadd(keys.signals, wrong_type)
    client.xadd(keys.signals, dict(signal_fields(4, 2), payload=b"\xc1 not msgpack"))
    client.xadd(keys.signals, {"topic": b"data.TradingSignal*"})
    client.xadd(keys.signals, signal_fields(5, 2))
    start_bridge(fleet)
    raw = kafka_values(fleet, "signals.raw", 4)
    assert {r["signal_id"] for r in raw} == {
        entries.signal_id(keys.signals, e.decode())
        for e in [*good, client.xrevrange(keys.signals, count=1)[0][0]]
    }
    headers = dlq_headers(fleet, 3)
    assert sorted(h["error_code"] for h in headers) == ["BAD_PAYLOAD", "MISSING_FIELDS", "WRONG_TYPE"]
    assert all(h["source_topic"] == keys.signals and h["error_message"] for h in headers)
    wait_for(lambda: client.xpending(keys.signals, "regime-fleet")["pending"] == 0, 30, "every entry acked")


def test_a_nautilus_node_hears_each_enriched_signal_once_in_order(
    fleet_factory: Any, redis_url: str, tmp_path: Path
) -> None:
    """A real node: its Strategy publishes N signals for K symbols through Redis; the enricher
    enriches them; its Actor hears exactly N, once each, per symbol in order, equal to
    signals.enriched, and every regime decision (a snapshot of the latest on start)."""
    keys = Keys()
    fleet: Fleet = fleet_factory(**keys.settings(redis_url))
    n, k = 60, 3
    decisions = [regime_event(1_700_000_000_000 + i * 60_000, "BULL", 0.8, f"SYM{i % k}") for i in range(6)]
    fleet.produce("regime.events", decisions)
    trades = [  # the enricher enriches only symbols it has market data for
        trade_event(event_id=f"t{i}", symbol=f"SYM{i % k}", event_ts_ms=1_699_999_990_000 + i)
        for i in range(3 * k)
    ]
    fleet.produce("market.raw", trades)
    fleet.start("ingest")
    fleet.start("enricher")
    start_bridge(fleet)
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: client.xlen(keys.delivery) >= len(decisions), 60, "the decisions in the stream")
    out = tmp_path / "node.jsonl"
    node = subprocess.Popen(
        [
            sys.executable, "-m", "tests.integration.nautilus_node", "--redis-port",
            str(urlparse(redis_url).port or 6379), "--trader-id", keys.trader, "--stream", keys.delivery,
            "--out", str(out), "--signals", str(n), "--symbols", str(k), "--seconds", "40",
        ],
        env=os.environ.copy(),
    )  # fmt: skip
    try:
        wait_for(
            lambda: (
                out.exists() and sum('"EnrichedSignal"' in line for line in out.read_text().splitlines()) >= n
            ),
            60,
            f"{n} enriched signals at the node's Actor",
        )
    except AssertionError:
        client = redis.Redis.from_url(redis_url)
        print("DEBUG out", out.read_text()[:1500] if out.exists() else None)
        print("DEBUG keys", client.keys(f"*{keys.trader}*"), client.xlen(keys.delivery))
        print("DEBUG sig", client.xlen(keys.signals), client.xinfo_groups(keys.signals))
        print(
            "DEBUG raw",
            len(fleet.consume("signals.raw", 1, timeout=5)),
            len(fleet.consume("signals.enriched", 1, timeout=5)),
            len(fleet.consume("fleet.dlq", 1, timeout=5)),
        )
        print(
            "DEBUG dlq",
            {
                r["headers"].get("error_code"): r["headers"].get("error_message")
                for r in fleet.consume("fleet.dlq", 1, timeout=5)
            },
        )
        print("DEBUG bridge", fleet.log(BRIDGE)[-1500:])
        print("DEBUG enricher", fleet.log("enricher")[-1500:])
        raise
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
    heard = [json.loads(line) for line in out.read_text().splitlines()]
    got = [h for h in heard if h["type"] == "EnrichedSignal"]
    ids = [h["signal_id"] for h in got]
    assert len(ids) == n and len(set(ids)) == n
    for sym in range(k):
        times = [h["ts_event"] for h in got if h["symbol"] == f"SYM{sym}"]
        assert times == sorted(times) and len(times) == n // k
    fleet_enriched = {r["signal"]["signal_id"]: r for r in kafka_values(fleet, "signals.enriched", n)}
    assert set(fleet_enriched) == set(ids)
    for h in got:
        assert h["meta_confidence"] == fleet_enriched[h["signal_id"]]["meta_confidence"]
        assert h["regime"] == fleet_enriched[h["signal_id"]]["regime"]
    latest = {h["symbol"]: h["event_id"] for h in heard if h["type"] == "RegimeDecision"}
    expected_latest = {d["symbol"]: d["event_id"] for d in decisions}  # the snapshot on start
    assert latest == expected_latest


def _local_redis(url: str) -> Any:
    if os.environ.get("REDIS_URL"):
        return None
    from harness.redis.local import LocalRedis

    return LocalRedis(port=urlparse(url).port or 6379)
