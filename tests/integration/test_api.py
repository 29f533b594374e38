"""The api worker on a real broker, served by uvicorn on 127.0.0.1: admission to regime
decision (SSE and lookup), idempotence, resumable streams, backpressure, auth and bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest

from harness.demo.data import index_events
from harness.launcher import free_port
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS, Fleet
from tests.samples import trade_event
from workers.api.client import SseStream, listen

pytestmark = pytest.mark.integration
TOKEN = "tok-Qx93-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start_api(fleet: Fleet, **settings: str) -> httpx.Client:
    port = free_port()
    fleet.start("api", api__port=str(port), api__tokens=json.dumps([TOKEN, "other-token"]), **settings)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return client
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"api not ready:\n{fleet.log('api')[-3000:]}")


def sse(
    client: httpx.Client, path: str, until: int, headers: dict[str, str] | None = None, timeout: float = 60
) -> SseStream:
    out = SseStream()
    port = client.base_url.port
    assert port is not None

    async def run() -> None:
        await asyncio.wait_for(listen("127.0.0.1", port, path, out, headers=headers, until=until), timeout)

    with contextlib.suppress(TimeoutError):
        asyncio.run(run())
    return out


def sse_in_background(
    client: httpx.Client, path: str, until: int, timeout: float
) -> tuple[SseStream, threading.Thread]:
    out = SseStream()
    thread = threading.Thread(
        target=lambda: out.events.extend(sse(client, path, until, timeout=timeout).events)
    )
    thread.start()
    return out, thread


def _events() -> list[dict[str, Any]]:
    return [e for s in ("SPX", "NDX") for e in index_events(s, days=10, window=5)]


def test_admission_to_decision_over_sse_and_lookup_idempotent_and_resumable(fleet_factory):
    fleet = fleet_factory()
    fleet.start_all()
    api = start_api(fleet)
    events = _events()
    expected = 2 * sum(len(v) for v in expected_runs(events, DAY_MS).values())

    # One single POST, then the rest as a batch, under one correlation id.
    corr = {"X-Correlation-Id": "corr-api-test-1"}
    live, listener = sse_in_background(api, "/v1/stream", until=expected, timeout=90)
    time.sleep(1)  # connected before the first admission
    first = api.post("/v1/events", json=events[0], headers={**AUTH, **corr})
    assert first.status_code == 202, first.text
    assert first.headers["x-correlation-id"] == "corr-api-test-1"
    assert first.json()["duplicate"] is False and first.json()["offset"] >= 0
    batch = api.post("/v1/events/batch", json=events[1:], headers={**AUTH, **corr})
    assert batch.status_code == 202, batch.text
    assert batch.json()["accepted"] == len(events) - 1

    # Idempotent: the same event again is accepted once, with the first coordinates.
    again = api.post("/v1/events", json=events[0], headers=AUTH)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert (again.json()["partition"], again.json()["offset"]) == (
        first.json()["partition"],
        first.json()["offset"],
    )
    rebatch = api.post("/v1/events/batch", json=events[1:], headers=AUTH).json()
    assert rebatch["accepted"] == 0 and rebatch["duplicates"] == len(events) - 1
    assert [r["offset"] for r in rebatch["results"]] == [r["offset"] for r in batch.json()["results"]]
    raw = fleet.consume("market.raw", len(events), timeout=20)
    assert len(raw) == len(events), "a repeated event_id was produced twice"
    assert {r["headers"]["correlation_id"] for r in raw} == {"corr-api-test-1"}

    # Every decision arrives on the live stream, in order per partition, each carrying our id.
    listener.join(100)
    values = [json.loads(e.data) for e in live.events]
    assert len(values) == expected, fleet.log("api")[-2000:]
    assert {v["correlation_id"] for v in values} == {"corr-api-test-1"}
    for p in (0, 1):
        offsets = [v["offset"] for v in values if v["partition"] == p]
        assert offsets == sorted(offsets)

    # The lookup agrees with the stream's last decision for the symbol.
    last = [v for v in values if v["symbol"] == "SPX" and v["event_type"] == "EngineRunCompleted"][-1]
    regime = api.get("/v1/symbols/SPX/regime").json()
    assert (regime["run_id"], regime["regime"]) == (last["run_id"], last["regime_output"]["regime"])
    assert api.get("/v1/symbols/NOPE/regime").status_code == 404

    # Resume: stop after k events, reconnect with Last-Event-ID: each event exactly once.
    k = expected // 3
    head = sse(api, "/v1/stream", until=k, headers={"Last-Event-ID": "0:-1,1:-1"})  # from the start
    assert head.status == 200 and head.headers["x-correlation-id"].startswith("api-")
    rest = sse(
        api, "/v1/stream", until=expected - k, headers={"Last-Event-ID": head.events[-1].id}, timeout=15
    )
    seen = [json.loads(e.data)["event_id"] for e in head.events + rest.events]
    assert len(seen) == expected and set(seen) == {v["event_id"] for v in values}

    # A filtered per-symbol stream, resumed from its own id, holds only that symbol.
    spx = sse(api, "/v1/symbols/NDX/events?event_type=EngineRunCompleted&last_event_id=0:-1,1:-1", until=3)
    more = sse(
        api,
        "/v1/symbols/NDX/events?event_type=EngineRunCompleted",
        until=100,
        headers={"Last-Event-ID": spx.events[-1].id},
        timeout=3,
    )
    got = [json.loads(e.data) for e in spx.events + more.events]
    want = [v for v in values if v["symbol"] == "NDX" and v["event_type"] == "EngineRunCompleted"]
    assert [g["event_id"] for g in got] == [w["event_id"] for w in want]

    # The run's provenance and the chain's verification, as the CLI reports them.
    run = api.get(f"/v1/runs/{last['run_id']}").json()
    assert run["run"]["run_id"] == last["run_id"] and run["input_hash_matches"] is True
    verified = api.get("/v1/provenance/verify", params={"symbol": "SPX"}).json()
    assert verified["ok"] is True and verified["events"] == sum(v["symbol"] == "SPX" for v in values)
    assert api.get("/v1/runs/0123456789abcdef").status_code == 404
    assert api.get("/v1/provenance/verify", params={"symbol": "NOPE"}).status_code == 404

    metrics = api.get("/metrics").text
    assert 'regime_fleet_http_requests_total{method="POST",route="/v1/events",status="202"} 1.0' in metrics
    assert 'regime_fleet_sse_disconnects_total{reason="client_closed"}' in metrics
    assert fleet.stop("api") == 0


def test_backpressure_auth_and_bad_input(fleet_factory):
    fleet = fleet_factory()
    api = start_api(fleet, api__ingest_lag_limit="20", api__lag_interval_s="0.2", api__max_body_bytes="16384")

    # Security: no token, a wrong one, another scheme: the same 401, nothing about why.
    event = trade_event(event_id="sec-1")
    answers = [
        api.post("/v1/events", json=event, headers=h)
        for h in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"})
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["message"] for a in answers} == {"a valid bearer token is required"}
    assert all(TOKEN not in a.text for a in answers)
    assert (
        api.post("/v1/events", json=event, headers={"Authorization": "Bearer other-token"}).status_code == 202
    )

    # Bad input: clear 4xx naming the field, and nothing produced.
    bad_json = api.post("/v1/events", content=b"{not json", headers=AUTH)
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "INVALID_JSON"
    wrong = api.post("/v1/events", json=trade_event(event_ts_ms="soon"), headers=AUTH)
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "event_ts_ms"
    mixed = [
        trade_event(event_id="ok-1"),
        trade_event(event_id="bad-1", trade={"price": -1.0, "size": 1.0, "side": "BUY"}),
    ]
    refused = api.post("/v1/events/batch", json=mixed, headers=AUTH)
    assert refused.status_code == 422
    assert [(p["index"], p["field"], p["code"]) for p in refused.json()["problems"]] == [
        (1, "trade.price", "NON_POSITIVE_PRICE")
    ]
    huge = api.post("/v1/events", content=b"[" + b"1," * 10000 + b"1]", headers=AUTH)
    assert huge.status_code == 413 and huge.json()["error"] == "BODY_TOO_LARGE"
    assert api.get("/v1/stream", headers={"Last-Event-ID": "garbage"}).status_code == 400
    assert api.get("/v1/topology", params={"format": "mermaid"}).text.startswith("flowchart LR")
    assert len(fleet.consume("market.raw", 2, timeout=5)) == 1, "only sec-1 may have been produced"

    # Backpressure: ingest is not running, so its lag grows past 20: 429 with Retry-After.
    accepted = api.post(
        "/v1/events/batch", json=[trade_event(event_id=f"bp-{i}") for i in range(30)], headers=AUTH
    )
    assert accepted.status_code == 202
    deadline, answer = time.monotonic() + 20, accepted
    while time.monotonic() < deadline and answer.status_code != 429:
        time.sleep(0.2)
        answer = api.post("/v1/events", json=trade_event(event_id=f"late-{time.monotonic()}"), headers=AUTH)
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"] == "BACKPRESSURE" and answer.json()["lag"] > 20
    assert api.get("/status").json()["ingest_lag"]["rejecting"] is True

    fleet.start("ingest")  # catches up: admissions are accepted again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and answer.status_code == 429:
        time.sleep(0.3)
        answer = api.post("/v1/events", json=trade_event(event_id="after-catch-up"), headers=AUTH)
    assert answer.status_code == 202, answer.text
    assert 'regime_fleet_admission_rejections_total{reason="backpressure"}' in api.get("/metrics").text

    assert fleet.stop("api") == 0
    log = fleet.log("api")
    assert TOKEN not in log and "other-token" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "http_request"]
    assert requests and all(line["correlation_id"] for line in requests)
