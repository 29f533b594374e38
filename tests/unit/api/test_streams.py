"""The SSE hub without a broker: ids over two topics, fan-out, resumption from the rings,
slow clients."""

from __future__ import annotations

import asyncio

import pytest

from workers.api.streams import (
    BadEventId,
    Filter,
    Hub,
    Published,
    decode_id,
    encode_id,
    history_frames,
    published,
)
from workers.enricher.samples import signal
from workers.topics import ENRICHED, EVENTS

R0, R1, E0, E1 = (EVENTS, 0), (EVENTS, 1), (ENRICHED, 0), (ENRICHED, 1)
SLOTS = [R0, R1, E0, E1]


def item(partition: int, offset: int, symbol: str = "S", event_type: str = "EngineRunStarted") -> Published:
    return published(
        EVENTS,
        partition,
        offset,
        {"symbol": symbol, "event_type": event_type, "event_id": f"r{partition}-{offset}"},
    )


def enriched(partition: int, offset: int, symbol: str = "S") -> Published:
    record = {"signal": signal(symbol, 1_700_000_000_000 + offset, seq=offset), "meta_confidence": 0.5}
    return published(ENRICHED, partition, offset, record)


def ids(frames: list[bytes]) -> list[str]:
    return [f.decode().split("\n")[0].removeprefix("id: ") for f in frames]


def events(frames: list[bytes]) -> list[str]:
    return [f.decode().split("\n")[1].removeprefix("event: ") for f in frames]


def test_ids_round_trip_and_refuse_what_the_stream_never_issued():
    assert encode_id({E0: 2, R1: 7, R0: -1, E1: -1}) == "0:-1,1:7,e0:2,e1:-1"
    assert decode_id("0:-1,1:7,e0:2,e1:-1", SLOTS) == {R0: -1, R1: 7, E0: 2, E1: -1}
    # An id issued before signals.enriched was served names regime.events only (or only the
    # other topic): the topics it leaves out are resumed from the head.
    assert decode_id("0:-1,1:7", SLOTS) == {R0: -1, R1: 7}
    assert decode_id("e0:3,e1:-1", SLOTS) == {E0: 3, E1: -1}
    assert decode_id("0:-1,1:7", [R0, R1]) == {R0: -1, R1: 7}
    bad = ("", "x", "0:1", "0:1,1:2,2:3", "0:-2,1:0", "0:a,1:2", "0:1,1:2,e0:1", "x0:1,x1:1", "0:1,0:2,1:3")
    for text in bad:
        with pytest.raises(BadEventId):
            decode_id(text, SLOTS)
    with pytest.raises(BadEventId):
        decode_id("0:1,1:2,e0:1,e1:1", [R0, R1])  # a topic this api does not serve


def test_published_keys_an_enriched_signal_by_its_signal_symbol():
    got = enriched(1, 9, "NDX")
    assert (got.topic, got.slot, got.symbol, got.event_type) == (ENRICHED, E1, "NDX", "EnrichedSignalEvent")
    assert got.data.startswith('{"meta_confidence":0.5,"offset":9,"partition":1,"signal":{')
    assert Filter(event_types=frozenset({"EnrichedSignalEvent"})).wants(ENRICHED)
    assert not Filter(event_types=frozenset({"EngineRunCompleted"})).wants(ENRICHED)
    assert Filter().wants(ENRICHED) and Filter().wants(EVENTS)


async def _live_fan_out() -> None:
    hub = Hub(SLOTS, history=10, queue_size=10)
    everyone = hub.register(Filter(), None).client
    only_b = hub.register(Filter(symbols=frozenset({"B"})), None).client
    signals = hub.register(Filter(event_types=frozenset({"EnrichedSignalEvent"})), None).client
    hub.publish([item(0, 3, "A"), item(1, 5, "B"), item(0, 3, "A")])  # the repeat is dropped
    hub.publish([enriched(1, 0, "B"), enriched(1, 0, "B")])
    assert ids(list(everyone.queue)) == ["0:3,1:-1,e0:-1,e1:-1", "0:3,1:5,e0:-1,e1:-1", "0:3,1:5,e0:-1,e1:0"]
    assert ids(list(only_b.queue)) == ["0:3,1:5,e0:-1,e1:-1", "0:3,1:5,e0:-1,e1:0"]  # the stream's ids
    assert events(list(signals.queue)) == ["EnrichedSignalEvent"]


def test_every_client_gets_the_same_ids_filters_apply_to_both_topics_and_repeats_are_dropped():
    asyncio.run(_live_fan_out())


async def _resume() -> None:
    hub = Hub([R0, R1], history=3, queue_size=10)
    hub.publish([item(0, 0), item(1, 0), item(0, 2), item(1, 4)])  # 1 and 3: transaction markers
    joined = hub.register(Filter(), {R0: 0, R1: -1})
    assert joined.head == {R0: 2, R1: 4} and not joined.unread
    assert [(h.partition, h.offset) for h in joined.history] == [(0, 2), (1, 0), (1, 4)]
    frames = history_frames(joined.start, joined.history, Filter())
    assert ids(frames) == ["0:2,1:-1", "0:2,1:0", "0:2,1:4"]
    hub.publish([item(0, 6)])
    assert ids(list(joined.client.queue)) == ["0:6,1:4"]  # live continues where history ended
    hub.publish([item(0, 7), item(0, 8)])  # partition 0's ring now starts after offset 2
    evicted = hub.register(Filter(), {R0: 0, R1: 4})
    assert evicted.unread == [R0] and evicted.history == []  # older than the ring: read Kafka
    kept = hub.register(Filter(), {R0: 2, R1: 4})
    assert not kept.unread and [h.offset for h in kept.history] == [6, 7, 8]


def test_resume_takes_history_from_the_rings_until_they_no_longer_hold_it():
    asyncio.run(_resume())


def _interleaved() -> list[list[Published]]:
    """Batches as the two tails hand them over: each topic in offset order per partition,
    the topics interleaved, offsets with gaps (transaction markers)."""
    batches: list[list[Published]] = []
    for i in range(12):
        batches.append([item(i % 2, 2 * i, f"S{i % 3}", ("EngineRunStarted", "EngineRunCompleted")[i % 2])])
        batches.append([enriched(i % 2, 3 * i, f"S{i % 3}"), enriched((i + 1) % 2, 3 * i + 1, "S1")])
    return batches


def _data(frames: list[bytes]) -> list[str]:
    return [f.decode().split("\n")[2] for f in frames]


async def _resume_both(flt: Filter) -> None:
    """Every id a client receives resumes to exactly the rest of its stream, across both
    topics: the history frames, then the live ones, hold each later record once."""
    batches = _interleaved()
    hub = Hub(SLOTS, history=100, queue_size=1000)
    watcher = hub.register(flt, None).client
    for batch in batches[:12]:
        hub.publish(batch)
    midway = [hub.register(flt, decode_id(i, SLOTS)) for i in ids(list(watcher.queue))]
    for batch in batches[12:]:
        hub.publish(batch)
    seen = list(watcher.queue)
    assert len(seen) > 10 and len(set(_data(seen))) == len(seen)
    for k, joined in enumerate(midway):
        assert not joined.unread
        rest = history_frames(joined.start, joined.history, flt) + list(joined.client.queue)
        # History comes slot by slot, not in the live order: compare as sets of distinct records.
        assert sorted(_data(rest)) == sorted(_data(seen[k + 1 :])), k
        assert len(set(_data(rest))) == len(rest)
        # ... and the id of each resumed frame resumes exactly as well.
        for j, frame_id in enumerate(ids(rest)):
            again = hub.register(flt, decode_id(frame_id, SLOTS))
            assert sorted(_data(history_frames(again.start, again.history, flt))) == sorted(
                _data(rest[j + 1 :])
            )


def test_resume_is_exact_across_both_topics_from_every_id():
    asyncio.run(_resume_both(Filter()))


def test_a_filtered_stream_resumes_exactly_from_its_own_ids():
    asyncio.run(_resume_both(Filter(symbols=frozenset({"S1"}))))
    asyncio.run(_resume_both(Filter(event_types=frozenset({"EnrichedSignalEvent", "EngineRunCompleted"}))))


async def _old_id() -> None:
    hub = Hub(SLOTS, history=10, queue_size=10)
    hub.publish([item(0, 0), enriched(0, 0), item(1, 0), enriched(1, 0), item(0, 1)])
    joined = hub.register(Filter(), decode_id("0:0,1:-1", SLOTS))  # as the api issued before
    assert joined.start == {R0: 0, R1: -1, E0: 0, E1: 0}  # signals.enriched: from the head
    assert [(h.topic, h.partition, h.offset) for h in joined.history] == [(EVENTS, 0, 1), (EVENTS, 1, 0)]
    assert ids(history_frames(joined.start, joined.history, Filter())) == [
        "0:1,1:-1,e0:0,e1:0",
        "0:1,1:0,e0:0,e1:0",
    ]
    hub.publish([enriched(0, 1)])
    assert ids(list(joined.client.queue)) == ["0:1,1:0,e0:1,e1:0"]


def test_an_id_naming_only_regime_partitions_resumes_them_and_signals_from_the_head():
    asyncio.run(_old_id())


async def _evicted_one_topic() -> None:
    hub = Hub(SLOTS, history=2, queue_size=10)
    hub.publish([enriched(0, o) for o in range(5)] + [item(0, 0), item(0, 1)])
    joined = hub.register(Filter(), {R0: -1, R1: -1, E0: 0, E1: -1})
    assert joined.unread == [E0]  # only the slot the ring no longer holds goes to Kafka
    assert [(h.topic, h.offset) for h in joined.history] == [(EVENTS, 0), (EVENTS, 1)]


def test_only_the_evicted_slots_are_read_from_kafka():
    asyncio.run(_evicted_one_topic())


async def _slow() -> None:
    hub = Hub([R0], history=0, queue_size=2)
    client = hub.register(Filter(), None).client
    hub.publish([item(0, 0), item(0, 1)])
    assert len(client.queue) == 2 and not client.reason
    hub.publish([item(0, 2)])
    assert client.reason == "slow" and not client.queue  # dropped, and its queue freed
    hub.publish([item(0, 3)])
    assert not client.queue
    other = hub.register(Filter(), None).client
    hub.close()
    assert other.reason == "shutdown" and other.wake.is_set()


def test_a_client_that_falls_behind_is_dropped_not_buffered():
    asyncio.run(_slow())
