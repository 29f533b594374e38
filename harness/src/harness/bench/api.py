"""(f) the api worker: admission throughput (batched), single-event latency at a fixed
offered rate, and SSE delivery latency from regime.events to 200 clients. The api runs as its
own process (`regime-fleet run api`); the load comes from this one, on the same 2 cores."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from confluent_kafka import Producer

from harness.demo.data import synthetic_intraday
from harness.launcher import Launcher, free_port
from workers import clients
from workers.api.client import Connection, SseStream, listen
from workers.config import FleetSettings
from workers.contracts import Serde

from .fresh import fleet_env, fresh_topics

TOKEN = "bench-token"
SSE_CLIENTS = 200


def api_bench(
    env: dict[str, str], root: Path, settings: FleetSettings, events: int, port: int
) -> dict[str, Any]:
    api_env = {
        **env,
        "REGIME_FLEET_API__PORT": str(port),
        "REGIME_FLEET_API__TOKENS": json.dumps([TOKEN]),
        "REGIME_FLEET_API__INGEST_LAG_LIMIT": "100000000",  # measured, never reached: no ingest here
        "REGIME_FLEET_API__MAX_BODY_BYTES": str(8 * 1024 * 1024),
    }
    with Launcher(root / settings.topic_prefix, {**os.environ, **api_env}) as fleet:
        fleet.start_fleet(["api"])
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url)
            return asyncio.run(_measure(url, port, settings, events))
        finally:
            fleet.stop_all()


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the api did not become ready")


async def _measure(url: str, port: int, settings: FleetSettings, events: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=auth, limits=limits, timeout=30) as client:
        # Batched: bodies of 500 events, 4 requests in flight.
        batch = synthetic_intraday(20, max(events // 20, 25), snapshot_every=60)
        bodies = [json.dumps(batch[i : i + 500]).encode() for i in range(0, len(batch), 500)]
        queue = list(bodies)

        async def sender() -> None:
            while queue:
                answer = await client.post("/v1/events/batch", content=queue.pop())
                assert answer.status_code == 202, answer.text

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(4)))
        out["api_batch_events_per_s"] = len(batch) / (time.perf_counter() - started)

    # Single events at a fixed offered rate; latency from the scheduled send (open loop), over
    # keep-alive connections taken from a pool (one request at a time on each).
    rate, seconds = 500, 10
    singles = synthetic_intraday(10, rate * seconds // 10, start_ms=1_750_000_000_000, seed=5)
    for e in singles:
        e["event_id"] = "single-" + e["event_id"]
    # This process holds the whole bench's events: a full collection here would stall the
    # client for hundreds of ms and be counted as the api's latency.
    gc.collect()
    gc.freeze()
    pool = [Connection("127.0.0.1", port, auth) for _ in range(32)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        idle.put_nowait(conn)
    lat: list[float] = []
    begin = time.perf_counter() + 0.2

    async def one(i: int, body: bytes) -> None:
        due = begin + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await idle.get()
        status, answer = await conn.post("/v1/events", body)
        idle.put_nowait(conn)
        lat.append(time.perf_counter() - due)
        assert status == 202, answer

    await asyncio.gather(*(one(i, json.dumps(e).encode()) for i, e in enumerate(singles)))
    out["api_single_achieved_per_s"] = len(singles) / (time.perf_counter() - begin)
    for conn in pool:
        conn.close()
    ms = np.array(lat) * 1000
    out["api_single_rate_per_s"] = rate
    out["api_single_p50_ms"] = float(np.percentile(ms, 50))
    out["api_single_p99_ms"] = float(np.percentile(ms, 99))
    out.update(await _sse(port, url, settings))
    return out


async def _sse(port: int, url: str, settings: FleetSettings) -> dict[str, Any]:
    """200 clients on /v1/stream; regime events produced at 100/s, each stamped with its
    produce time in `published_at_ms`: delivery = receipt - that."""
    n, rate = 1000, 100
    streams = [SseStream() for _ in range(SSE_CLIENTS)]
    # 20 clients parse every event (the latency sample); 180 count them (completeness): the
    # clients share the machine with the api and the broker.
    tasks = [
        asyncio.create_task(listen("127.0.0.1", port, "/v1/stream", s, until=n, count_only=i >= 20))
        for i, s in enumerate(streams)
    ]
    async with httpx.AsyncClient(base_url=url) as client:
        while (await client.get("/status")).json()["sse"]["clients"] < SSE_CLIENTS:
            await asyncio.sleep(0.1)
    serde = Serde()

    def produce() -> None:
        producer = Producer({**clients.producer_config(settings, None), "linger.ms": 0})
        topic = settings.topic("regime.events")
        started = time.time()
        for i in range(n):
            while time.time() < started + i / rate:
                time.sleep(0.001)
            event = _regime_event(i)
            event["published_at_ms"] = int(time.time() * 1000)
            producer.produce(topic, serde.encode("OrchestratorEvent", event), event["symbol"].encode())
            producer.poll(0)
        producer.flush(30)

    await asyncio.to_thread(produce)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    lat = [e.received * 1000 - json.loads(e.data)["published_at_ms"] for s in streams for e in s.events]
    got = sum(len(s.events) + s.counted for s in streams)
    return {
        "api_sse_clients": SSE_CLIENTS,
        "api_sse_deliveries": got,
        "api_sse_complete": got == SSE_CLIENTS * n,
        "api_sse_p50_ms": float(np.percentile(lat, 50)),
        "api_sse_p99_ms": float(np.percentile(lat, 99)),
    }


def _regime_event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"bench-{i}",
        "event_type": "EngineRunStarted",
        "run_id": f"run-{i}",
        "symbol": f"SYN{i % 20:03d}",
        "engine_timestamp_ms": 1_700_000_000_000 + i * 60_000,
        "cut_start_ingest_seq": i,
        "cut_end_ingest_seq": i,
        "cut_kind": "BOUNDARY",
        "engine_mode": "TRUTH",
        "provenance": {
            "input_hash": "",
            "config_fingerprint": "",
            "engine_version": "",
            "prev_event_hash": "",
            "event_hash": "",
        },
        "correlation_id": "bench",
        "published_at_ms": 0,
    }


def run_api_only(root: Path, stamp: str, events: int = 40_000) -> dict[str, Any]:
    """`regime-fleet bench --only api`: (f) alone, on topics of its own."""
    with fresh_topics(f"bench{stamp}f.", root) as (settings, _topology):
        print("(f) api: admission batched and single, SSE fan-out to 200 clients...", flush=True)
        return api_bench(fleet_env(settings.topic_prefix, root), root, settings, events, free_port())
