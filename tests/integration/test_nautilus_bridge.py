"""The Nautilus bridge against a real Kafka, a real Redis and a real NautilusTrader node
(docs/nautilus.md): exactly-once both ways across a SIGKILL of the bridge and a Redis restart,
malformed entries dead-lettered while the stream flows on, and a node's Actor hearing each
enriched signal and decision once, across a restart of the node too. Two tests, each one fleet,
to keep the suite's wall time down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest
import redis

from harness.demo.node_process import NodeProcess
from harness.launcher import free_port
from tests.integration.fleet import Fleet, http_get, wait_consumed, worker_status
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


def all_acked(client: redis.Redis, stream: str) -> bool:
    """The group has read up to the stream's last entry and has nothing pending."""
    groups: Any = client.xinfo_groups(stream)
    last: Any = client.xrevrange(stream, count=1)
    return (
        bool(groups and last) and groups[0]["last-delivered-id"] == last[0][0] and groups[0]["pending"] == 0
    )


def kafka_values(fleet: Fleet, topic: str, expected: int) -> list[dict[str, Any]]:
    return [r["value"] for r in fleet.consume(topic, expected, timeout=60)]


def dlq_headers(fleet: Fleet, most: int, silence_s: float) -> list[dict[str, str]]:
    return [r["headers"] for r in fleet.consume("fleet.dlq", most, timeout=silence_s)]


def bad_entries(i: int, symbols: int) -> dict[str, dict[str, Any]]:
    """A wrong type, a payload that is not msgpack, an entry without its payload: by the code each gets."""
    return {
        "WRONG_TYPE": dict(
            signal_fields(i, symbols), payload=msgspec.msgpack.encode({"type": "QuoteTick", "ts_event": "1"})
        ),
        "BAD_PAYLOAD": dict(signal_fields(i, symbols), payload=b"\xc1 not msgpack"),
        "MISSING_FIELDS": {"topic": b"data.TradingSignal*"},
    }


def test_gap_free_both_ways_across_a_bridge_sigkill_and_a_redis_restart_with_malformed_entries(
    fleet_factory: Any, redis_url: str
) -> None:
    keys = Keys()
    fleet: Fleet = fleet_factory(**keys.settings(redis_url))
    client = redis.Redis.from_url(redis_url)
    n, k = 1000, 4
    half = n // 2
    fleet.produce("signals.enriched", [enriched(i, k) for i in range(half)])
    malformed = {}
    for i in range(half):
        client.xadd(keys.signals, signal_fields(i, k))
        if i == half // 2:  # malformed entries mid-stream: dead-lettered, and the stream flows on
            for code, fields in bad_entries(i, k).items():
                malformed[client.xadd(keys.signals, fields).decode()] = code
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
    wait_for(lambda: all_acked(client, keys.signals), 60, "every entry acked")
    raw = [r["value"] for r in fleet.consume("signals.raw", 10 * n, timeout=3)]  # redeliveries too
    expected_ids = {
        entries.signal_id(keys.signals, eid.decode())
        for eid, _ in client.xrange(keys.signals)
        if eid.decode() not in malformed
    }
    assert {r["signal_id"] for r in raw} == expected_ids, "every valid entry reached signals.raw"
    # A kill between the commit and the XACK dead-letters an entry again: compare by entry id.
    letters = {h["source_offset"]: h for h in dlq_headers(fleet, 100, silence_s=3)}
    assert {e: h["error_code"] for e, h in letters.items()} == malformed
    assert all(h["source_topic"] == keys.signals and h["error_message"] for h in letters.values())
    assert client.xpending(keys.signals, "regime-fleet")["pending"] == 0, "every entry acked"
    metrics = http_get(port, "/metrics")[1]
    assert 'regime_fleet_bridge_entries_total{outcome="acked"}' in metrics
    assert "regime_fleet_bridge_redis_connected 1.0" in metrics
    assert 'regime_fleet_bridge_delivered_total{type="EnrichedSignal"}' in metrics
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(30) == 0


class Node(NodeProcess):
    """One run of the real node, recording what its Actor hands on."""

    def __init__(self, redis_url: str, keys: Keys, out: Path, signals: int = 0, symbols: int = 1) -> None:
        super().__init__(redis_url, keys.trader, keys.delivery, out, signals=signals, symbols=symbols)

    def stop(self, timeout_s: float = 30) -> dict[str, Any]:
        closing = super().stop(timeout_s)
        assert closing, "the node stopped without its Actor's on_stop"
        return closing


def ids_of(heard: list[dict[str, Any]], kind: str) -> list[str]:
    key = "event_id" if kind == "RegimeDecision" else "signal_id"
    return [h[key] for h in heard if h["type"] == kind]


def in_order_per_symbol(heard: list[dict[str, Any]]) -> bool:
    """Per symbol and type, the Kafka offsets the Actor handed on only grow."""
    seen: dict[tuple[str, str], int] = {}
    for h in heard:
        if h["type"] in ("RegimeDecision", "EnrichedSignal"):
            key = (h["type"], h["symbol"])
            if h["kafka_offset"] < seen.get(key, -1):
                return False
            seen[key] = h["kafka_offset"]
    return True


def test_a_nautilus_node_hears_each_record_once_in_order_across_its_restart(
    fleet_factory: Any, redis_url: str, tmp_path: Path
) -> None:
    """A real node: its Strategy publishes N signals for K symbols through Redis; the enricher
    enriches them; its Actor hears exactly N, once each, per symbol in order, equal to
    signals.enriched, and the latest regime decision per symbol (the snapshot on start).
    Then the node stops while the fleet keeps delivering, and starts again while it still
    does: the restarted Actor hands on every decision and enriched signal it missed, and
    none it had already handed on."""
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
    # A signal ahead of its symbol's market data is dead-lettered (UNKNOWN_SYMBOL): on a loaded
    # machine ingest can start after the node has published, so wait for the enricher to hold it.
    assert len(fleet.consume("market.buffer", len(trades), timeout=120)) == len(trades)
    wait_consumed(fleet, ("market.buffer", "regime.events"), timeout=120)
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: client.xlen(keys.delivery) >= len(decisions), 60, "the decisions in the stream")
    node = Node(redis_url, keys, tmp_path / "run1.jsonl", signals=n, symbols=k)
    try:
        wait_for(lambda: node.count("EnrichedSignal") >= n, 120, f"{n} enriched signals at the node's Actor")
    finally:
        node.stop()
    heard = node.heard()
    ids = ids_of(heard, "EnrichedSignal")
    assert len(ids) == n and len(set(ids)) == n
    for sym in range(k):
        times = [h["ts_event"] for h in heard if h["type"] == "EnrichedSignal" and h["symbol"] == f"SYM{sym}"]
        assert times == sorted(times) and len(times) == n // k
    fleet_enriched = {r["signal"]["signal_id"]: r for r in kafka_values(fleet, "signals.enriched", n)}
    assert set(fleet_enriched) == set(ids)
    for h in heard:
        if h["type"] == "EnrichedSignal":
            assert h["meta_confidence"] == fleet_enriched[h["signal_id"]]["meta_confidence"]
            assert h["regime"] == fleet_enriched[h["signal_id"]]["regime"]
    latest = {h["symbol"]: h["event_id"] for h in heard if h["type"] == "RegimeDecision"}
    assert latest == {d["symbol"]: d["event_id"] for d in decisions}  # the snapshot on start

    # The node is down; the fleet keeps delivering. Then it starts, and the fleet still delivers.
    def more(first: int, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ds = [
            regime_event(1_700_001_000_000 + i * 60_000, "BEAR", 0.7, f"SYM{i % k}")
            for i in range(first, first + count)
        ]
        es = [enriched(10_000 + i, k) for i in range(first * 5, (first + count) * 5)]
        fleet.produce("regime.events", ds)
        fleet.produce("signals.enriched", es)
        return ds, es

    before = client.xlen(keys.delivery)
    missed_d, missed_e = more(0, 6)
    wait_for(lambda: client.xlen(keys.delivery) >= before + 36, 60, "the missed records in the stream")
    node = Node(redis_url, keys, tmp_path / "run2.jsonl")
    live_d, live_e = more(6, 6)  # while the node starts: races its ingress's first read
    want_d = {d["event_id"] for d in missed_d + live_d}
    want_e = {e["signal"]["signal_id"] for e in missed_e + live_e}
    try:
        wait_for(
            lambda: (
                set(ids_of(node.heard(), "EnrichedSignal")) >= want_e
                and set(ids_of(node.heard(), "RegimeDecision")) >= want_d
            ),
            120,
            "every record delivered while the node was down or starting",
        )
    finally:
        closing = node.stop()
    again = node.heard()
    got_d, got_e = ids_of(again, "RegimeDecision"), ids_of(again, "EnrichedSignal")
    assert sorted(got_d) == sorted(want_d), "every decision once, none handed on before the restart"
    assert sorted(got_e) == sorted(want_e), "every enriched signal once, none handed on before the restart"
    assert in_order_per_symbol(again)
    assert closing["caught_up"] >= len(missed_d) + len(missed_e), "the missed range came from the catch-up"
    print(f"restart: {closing}")


def _local_redis(url: str) -> Any:
    if os.environ.get("REDIS_URL"):
        return None
    from harness.redis.local import LocalRedis

    return LocalRedis(port=urlparse(url).port or 6379)
