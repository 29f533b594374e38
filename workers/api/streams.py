"""SSE fan-out: one tail of regime.events, many clients, each with a bounded queue.

Resumable ids: an SSE `id` is the stream's position on every partition after that event,
`<partition>:<offset>` joined by commas (e.g. `0:41,1:-1,2:17`; -1: nothing yet). All
clients see partitions in the hub's order, so the id after an event is the same for every
client and is encoded once. `Last-Event-ID` resumes after exactly those offsets: history is
what lies between it and the hub's head at registration (from the in-memory ring, or read
from Kafka when older), then the live queue; registration and the head snapshot happen in one
step of the event loop, so nothing is missed or sent twice.

A client whose queue is full is dropped with a reason (`event: disconnect`), never buffered
without bound.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.contracts.json_form import dumps

Position = dict[int, int]


class BadEventId(ValueError):
    """A Last-Event-ID this stream never issued."""


def encode_id(position: Mapping[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(position.items()))


def decode_id(text: str, partitions: Iterable[int]) -> Position:
    wanted = set(partitions)
    try:
        pairs = [part.split(":") for part in text.split(",")]
        position = {int(p): int(o) for p, o in pairs}
    except ValueError:
        raise BadEventId(f"Last-Event-ID {text[:80]!r} is not '<partition>:<offset>,...'") from None
    if set(position) != wanted or any(o < -1 for o in position.values()):
        raise BadEventId(f"Last-Event-ID {text[:80]!r} does not name partitions {sorted(wanted)}")
    return position


def frame(event_id: str, event_type: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


@dataclass(frozen=True)
class Published:
    """One regime.events record as the hub keeps it: position, filter keys, encoded frame."""

    partition: int
    offset: int
    symbol: str
    event_type: str
    data: str  # canonical JSON of the event with its partition and offset


@dataclass(frozen=True)
class Filter:
    symbols: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    def matches(self, symbol: str, event_type: str) -> bool:
        return (not self.symbols or symbol in self.symbols) and (
            not self.event_types or event_type in self.event_types
        )


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


HistoryReader = Callable[[Position, Position], list[Published]]


class Hub:
    """Owned by the event loop: `publish` and `register` run on it, never concurrently."""

    def __init__(self, partitions: Iterable[int], history: int, queue_size: int) -> None:
        self.head: Position = {p: -1 for p in partitions}
        self.history = history
        self.rings: dict[int, deque[Published]] = {p: deque() for p in self.head}
        # The ring of p holds every record after floor[p]: the last offset it evicted.
        self.floor: Position = dict(self.head)
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.closed = False

    def publish(self, batch: Iterable[Published]) -> None:
        for item in batch:
            if item.offset <= self.head.get(item.partition, item.offset):
                continue  # a re-read after a reconnect of the tail
            self.head[item.partition] = item.offset
            ring = self.rings[item.partition]
            ring.append(item)
            if len(ring) > self.history:
                self.floor[item.partition] = ring.popleft().offset
            if not self.clients:
                continue
            encoded = frame(encode_id(self.head), item.event_type, item.data)
            for client in self.clients:
                if client.filter.matches(item.symbol, item.event_type):
                    client.push(encoded)

    def register(
        self, flt: Filter, after: Position | None
    ) -> tuple[Client, Position, list[Published] | None]:
        """A live client, the head it starts from, and the history (after, head] when the
        rings hold all of it (None: read it from Kafka)."""
        client = Client(flt, self.queue_size)
        if self.closed:
            client.end("shutdown")
        self.clients.add(client)
        head = dict(self.head)
        if after is None:
            return client, head, []
        return client, head, self._from_rings(after, head)

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)

    def close(self) -> None:
        self.closed = True
        for client in self.clients:
            client.end("shutdown")

    def _from_rings(self, after: Position, head: Position) -> list[Published] | None:
        out: list[Published] = []
        for p, last in after.items():
            if last >= head[p]:
                continue
            if last < self.floor[p]:
                return None  # evicted already: read Kafka
            out += [item for item in self.rings[p] if item.offset > last]
        return out


def history_frames(after: Position, items: list[Published], flt: Filter) -> list[bytes]:
    """History as frames: each id advances the client's own position, partition by partition."""
    position = dict(after)
    frames = []
    for item in items:
        position[item.partition] = item.offset
        if flt.matches(item.symbol, item.event_type):
            frames.append(frame(encode_id(position), item.event_type, item.data))
    return frames


def published(partition: int, offset: int, event: Mapping[str, Any]) -> Published:
    data = dumps({**event, "partition": partition, "offset": offset})
    return Published(partition, offset, str(event["symbol"]), str(event["event_type"]), data)


def disconnect_frame(reason: str, detail: str) -> bytes:
    return f"event: disconnect\ndata: {json.dumps({'reason': reason, 'detail': detail})}\n\n".encode()
