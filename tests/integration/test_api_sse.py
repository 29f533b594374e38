"""SSE fan-out on a real broker: 200 concurrent clients all receive everything; a client
whose queue overflows is disconnected with a reason instead of growing the api's memory."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.integration.test_api import start_api
from tests.samples import result_event
from workers.api.client import SseStream, listen

pytestmark = pytest.mark.integration
CLIENTS = 200
EVENTS = 40


async def _fan_out(port: int, fleet, api) -> list[SseStream]:
    streams = [SseStream() for _ in range(CLIENTS)]
    tasks = [asyncio.create_task(listen("127.0.0.1", port, "/v1/stream", s, until=EVENTS)) for s in streams]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and api.get("/status").json()["sse"]["clients"] < CLIENTS:
        await asyncio.sleep(0.1)
    assert api.get("/status").json()["sse"]["clients"] == CLIENTS
    assert "regime_fleet_sse_clients 200.0" in api.get("/metrics").text
    values = [
        result_event(1_700_000_000_000 + i * 60_000, "EngineRunStarted", f"S{i % 4}") for i in range(EVENTS)
    ]
    await asyncio.to_thread(fleet.produce, "regime.events", values)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return streams


def test_200_sse_clients_receive_everything_and_a_slow_one_is_dropped(fleet_factory):
    fleet = fleet_factory()
    api = start_api(fleet, api__sse_heartbeat_s="1")
    port = api.base_url.port
    streams = asyncio.run(_fan_out(port, fleet, api))
    want = [e.data for e in streams[0].events]
    assert len(want) == EVENTS
    assert all(s.status == 200 and [e.data for e in s.events] == want for s in streams)
    assert all(len({e.id for e in s.events}) == EVENTS for s in streams)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and api.get("/status").json()["sse"]["clients"]:
        time.sleep(0.1)
    metrics = api.get("/metrics").text
    assert "regime_fleet_sse_clients 0.0" in metrics
    assert f'regime_fleet_sse_disconnects_total{{reason="client_closed"}} {CLIENTS}.0' in metrics

    # A queue of 5 cannot hold a burst of 40: the stream ends with the reason, memory stays flat.
    slow = start_api(fleet, api__sse_queue_size="5")
    stream = SseStream()

    async def burst() -> None:
        task = asyncio.create_task(listen("127.0.0.1", slow.base_url.port, "/v1/stream", stream))
        while slow.get("/status").json()["sse"]["clients"] < 1:
            await asyncio.sleep(0.05)
        values = [
            result_event(1_800_000_000_000 + i * 60_000, "EngineRunStarted", "Z") for i in range(EVENTS)
        ]
        await asyncio.to_thread(fleet.produce, "regime.events", values)
        await asyncio.wait_for(task, 30)

    asyncio.run(burst())
    assert stream.closed and stream.events[-1].event == "disconnect"
    assert json.loads(stream.events[-1].data)["reason"] == "slow"
    assert len(stream.events) - 1 < EVENTS
    assert 'regime_fleet_sse_disconnects_total{reason="slow"} 1.0' in slow.get("/metrics").text
