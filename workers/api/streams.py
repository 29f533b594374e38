"""SSE fan-out: tails of regime.events and signals.enriched, many clients, each with a
bounded queue.

Resumable ids: an SSE `id` is the stream's position on every partition of every served topic
after that event, `<prefix><partition>:<offset>` joined by commas (e.g. `0:41,1:-1,e0:7,e1:3`;
-1: nothing yet). regime.events' prefix is empty (its ids predate the other topics), so an id
naming only regime.events partitions is still valid: the topics it does not name start at the
head. All clients see the partitions in the hub's order, so the id after an event is the same
for every client and is encoded once. `Last-Event-ID` resumes after exactly those offsets:
history is what lies between it and the hub's head at registration (from the in-memory ring,
or read from Kafka when older), then the live queue; registration and the head snapshot happen
in one step of the event loop, so nothing is missed or sent twice.

A client whose queue is full is dropped with a reason (`event: disconnect`), never buffered
without bound.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.contracts.json_form import dumps
from workers.topics import ENRICHED, EVENTS

Slot = tuple[str, int]  # (topic, partition)
Position = dict[Slot, int]


@dataclass(frozen=True)
class Stream:
    """A topic the hub serves: its contract, its partitions' id prefix, its SSE event types."""

    topic: str
    contract: str
    id_prefix: str
    event_types: tuple[str, ...]


ENRICHED_TYPE = "EnrichedSignalEvent"  # the SSE event of a signals.enriched record: its contract
STREAMS = (
    Stream(
        EVENTS,
        "OrchestratorEvent",
        "",
        ("EngineRunStarted", "EngineRunCompleted", "EngineRunFailed", "HysteresisDecisionPublished"),
    ),
    Stream(ENRICHED, "EnrichedSignalEvent", "e", (ENRICHED_TYPE,)),
)
BY_TOPIC = {s.topic: s for s in STREAMS}
BY_PREFIX = {s.id_prefix: s for s in STREAMS}
ORDER = {s.topic: i for i, s in enumerate(STREAMS)}
_KEY = re.compile(r"([a-z]*)(\d+)")


def served(topics: Iterable[str]) -> list[Stream]:
    """The streams of STREAMS whose topic the topology declares, in id order."""
    present = set(topics)
    return [s for s in STREAMS if s.topic in present]


class BadEventId(ValueError):
    """A Last-Event-ID this stream never issued."""


def _names(slots: Iterable[Slot]) -> list[str]:
    ordered = sorted(slots, key=lambda s: (ORDER[s[0]], s[1]))
    return [f"{BY_TOPIC[t].id_prefix}{p}" for t, p in ordered]


def encode_id(position: Mapping[Slot, int]) -> str:
    slots = sorted(position, key=lambda s: (ORDER[s[0]], s[1]))
    return ",".join(f"{BY_TOPIC[t].id_prefix}{p}:{position[t, p]}" for t, p in slots)


def decode_id(text: str, slots: Iterable[Slot]) -> Position:
    """The position an id names: every partition of each topic it names, none of the others
    (those resume from the head: an id issued before a topic was served stays valid)."""
    wanted = set(slots)
    position: Position = {}
    try:
        for part in text.split(","):
            key, offset = part.split(":")
            match = _KEY.fullmatch(key)
            if match is None or match[1] not in BY_PREFIX or int(offset) < -1:
                raise ValueError(part)
            slot = (BY_PREFIX[match[1]].topic, int(match[2]))
            if slot in position:
                raise ValueError(part)
            position[slot] = int(offset)
    except ValueError:
        raise BadEventId(
            f"Last-Event-ID {text[:80]!r} is not '<partition>:<offset>,...' (e<partition> for signals.enriched)"
        ) from None
    named = {t for t, _ in position}
    if not set(position) <= wanted or set(position) != {s for s in wanted if s[0] in named}:
        raise BadEventId(
            f"Last-Event-ID {text[:80]!r} must name all or none of each topic's partitions: "
            f"{','.join(_names(wanted))}"
        )
    return position


def frame(event_id: str, event_type: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


@dataclass(frozen=True)
class Published:
    """One record as the hub keeps it: position, filter keys, encoded frame."""

    topic: str
    partition: int
    offset: int
    symbol: str
    event_type: str
    data: str  # canonical JSON of the record with its partition and offset
    timestamp_ms: int = 0  # the Kafka record timestamp: when it was published (point-in-time lookups)

    @property
    def slot(self) -> Slot:
        return (self.topic, self.partition)


@dataclass(frozen=True)
class Filter:
    symbols: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    def matches(self, symbol: str, event_type: str) -> bool:
        return (not self.symbols or symbol in self.symbols) and (
            not self.event_types or event_type in self.event_types
        )

    def wants(self, topic: str) -> bool:
        """Can any record of `topic` match? (No: its history need not be read.)"""
        return not self.event_types or not self.event_types.isdisjoint(BY_TOPIC[topic].event_types)


@dataclass(eq=False)  # identity: a client is a connection
class Client:
    filter: Filter
    limit: int
    queue: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""  # set when the server ends the stream: slow, shutdown

    def push(self, item: bytes) -> None:
        if self.reason:
            return
        if len(self.queue) >= self.limit:
            self.queue.clear()  # nothing more is sent: free it now
            self.reason = "slow"
        else:
            self.queue.append(item)
        self.wake.set()

    def end(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        self.wake.set()


@dataclass
class Joined:
    """A registered client and where its stream begins: `start` (its Last-Event-ID, topics it
    does not name at the head), then (start, head] from the rings (`history`) and from Kafka
    (`unread`: slots the rings no longer hold), then its live queue."""

    client: Client
    start: Position
    head: Position
    history: list[Published]
    unread: list[Slot]


class Hub:
    """Owned by the event loop: `publish` and `register` run on it, never concurrently."""

    def __init__(self, slots: Iterable[Slot], history: int, queue_size: int) -> None:
        self.head: Position = {s: -1 for s in slots}
        self.history = history
        self.rings: dict[Slot, deque[Published]] = {s: deque() for s in self.head}
        # The ring of s holds every record after floor[s]: the last offset it evicted.
        self.floor: Position = dict(self.head)
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.closed = False

    def publish(self, batch: Iterable[Published]) -> None:
        for item in batch:
            slot = item.slot
            if item.offset <= self.head.get(slot, item.offset):
                continue  # a re-read after a reconnect of the tail
            self.head[slot] = item.offset
            ring = self.rings[slot]
            ring.append(item)
            if len(ring) > self.history:
                self.floor[slot] = ring.popleft().offset
            if not self.clients:
                continue
            encoded = frame(encode_id(self.head), item.event_type, item.data)
            for client in self.clients:
                if client.filter.matches(item.symbol, item.event_type):
                    client.push(encoded)

    def register(self, flt: Filter, after: Position | None) -> Joined:
        client = Client(flt, self.queue_size)
        if self.closed:
            client.end("shutdown")
        self.clients.add(client)
        head = dict(self.head)
        start = {s: head[s] if after is None else after.get(s, head[s]) for s in head}
        history: list[Published] = []
        unread: list[Slot] = []
        for slot, last in start.items():
            if last >= head[slot]:
                continue
            if last < self.floor[slot]:
                unread.append(slot)  # evicted already: read Kafka
            else:
                history += [item for item in self.rings[slot] if item.offset > last]
        return Joined(client, start, head, history, unread)

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)

    def close(self) -> None:
        self.closed = True
        for client in self.clients:
            client.end("shutdown")


def history_frames(start: Position, items: list[Published], flt: Filter) -> list[bytes]:
    """History as frames: each id advances the client's own position, partition by partition
    (items hold each slot's records in offset order)."""
    position = dict(start)
    frames = []
    for item in items:
        position[item.slot] = item.offset
        if flt.matches(item.symbol, item.event_type):
            frames.append(frame(encode_id(position), item.event_type, item.data))
    return frames


def published(
    topic: str, partition: int, offset: int, record: Mapping[str, Any], timestamp_ms: int = 0
) -> Published:
    data = dumps({**record, "partition": partition, "offset": offset})
    if topic == ENRICHED:
        symbol, event_type = record["signal"]["symbol"], ENRICHED_TYPE
    else:
        symbol, event_type = record["symbol"], record["event_type"]
    return Published(topic, partition, offset, str(symbol), str(event_type), data, timestamp_ms)


def disconnect_frame(reason: str, detail: str) -> bytes:
    return f"event: disconnect\ndata: {json.dumps({'reason': reason, 'detail': detail})}\n\n".encode()
