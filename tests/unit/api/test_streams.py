"""The SSE hub without a broker: ids, fan-out, resumption from the rings, slow clients."""

from __future__ import annotations

import asyncio

import pytest

from workers.api.streams import (
    BadEventId,
    Filter,
    Hub,
    decode_id,
    encode_id,
    history_frames,
    published,
)


def item(partition: int, offset: int, symbol: str = "S", event_type: str = "EngineRunStarted"):
    return published(
        partition, offset, {"symbol": symbol, "event_type": event_type, "event_id": f"{partition}-{offset}"}
    )


def ids(frames: list[bytes]) -> list[str]:
    return [f.decode().split("\n")[0].removeprefix("id: ") for f in frames]


def test_ids_round_trip_and_refuse_what_the_stream_never_issued():
    assert encode_id({1: 7, 0: -1}) == "0:-1,1:7"
    assert decode_id("0:-1,1:7", [0, 1]) == {0: -1, 1: 7}
    for bad in ("", "x", "0:1", "0:1,1:2,2:3", "0:-2,1:0", "0:a,1:2"):
        with pytest.raises(BadEventId):
            decode_id(bad, [0, 1])


async def _live_fan_out() -> None:
    hub = Hub([0, 1], history=10, queue_size=10)
    everyone, _, _ = hub.register(Filter(), None)
    only_b, _, _ = hub.register(Filter(symbols=frozenset({"B"})), None)
    hub.publish([item(0, 3, "A"), item(1, 5, "B"), item(0, 3, "A")])  # the repeat is dropped
    assert ids(list(everyone.queue)) == ["0:3,1:-1", "0:3,1:5"]
    assert ids(list(only_b.queue)) == ["0:3,1:5"]  # the id is the stream's, not the filter's


def test_every_client_gets_the_same_ids_filters_apply_and_repeats_are_dropped():
    asyncio.run(_live_fan_out())


async def _resume() -> None:
    hub = Hub([0, 1], history=3, queue_size=10)
    hub.publish([item(0, 0), item(1, 0), item(0, 2), item(1, 4)])  # 1 and 3: transaction markers
    client, head, history = hub.register(Filter(), {0: 0, 1: -1})
    assert head == {0: 2, 1: 4}
    assert history is not None
    assert [(h.partition, h.offset) for h in history] == [(0, 2), (1, 0), (1, 4)]
    frames = history_frames({0: 0, 1: -1}, history, Filter())
    assert ids(frames) == ["0:2,1:-1", "0:2,1:0", "0:2,1:4"]
    hub.publish([item(0, 6)])
    assert ids(list(client.queue)) == ["0:6,1:4"]  # live continues where history ended
    hub.publish([item(0, 7), item(0, 8)])  # partition 0's ring now starts after offset 2
    _, _, evicted = hub.register(Filter(), {0: 0, 1: 4})
    assert evicted is None  # older than the ring: the caller reads Kafka
    _, _, kept = hub.register(Filter(), {0: 2, 1: 4})
    assert kept is not None and [h.offset for h in kept] == [6, 7, 8]


def test_resume_takes_history_from_the_rings_until_they_no_longer_hold_it():
    asyncio.run(_resume())


async def _slow() -> None:
    hub = Hub([0], history=0, queue_size=2)
    client, _, _ = hub.register(Filter(), None)
    hub.publish([item(0, 0), item(0, 1)])
    assert len(client.queue) == 2 and not client.reason
    hub.publish([item(0, 2)])
    assert client.reason == "slow" and not client.queue  # dropped, and its queue freed
    hub.publish([item(0, 3)])
    assert not client.queue
    other, _, _ = hub.register(Filter(), None)
    hub.close()
    assert other.reason == "shutdown" and other.wake.is_set()


def test_a_client_that_falls_behind_is_dropped_not_buffered():
    asyncio.run(_slow())
