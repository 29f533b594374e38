"""Direct, bounded reads of the topics a worker declares under `reads`: one record by offset
(with a small cache and forward reading, since a partition's reads come in offset order), or
a partition's tail. Transient failures are retried by the worker's `reads` retry policy and
then surface as Unavailable (retry the record later), never as a permanent failure.

Each partition read by offset gets its own cursor (a group-less consumer standing on it, up to
MAX_CURSORS, the least recently used closed first): the engine reads the snapshots of runs from
every partition it is assigned, interleaved, and one consumer re-assigned on every switch
threw its prefetched records away and fetched them again (an eighth of the engine's time)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing import Metrics, ReadError, Unavailable
from workers.retry import RetriesExhausted, RetryPolicy, retry
from workers.runtime.reader import take
from workers.topology import Topology

FORWARD_SCAN = 2000  # records worth reading through rather than seeking past
READ_DEADLINE_S = 10.0
MAX_CURSORS = 16  # partitions read forward at once, each by its own consumer
# What a cursor fetches ahead, 4 MB at most (16 cursors: 64 MB); once it holds that much,
# librdkafka waits fetch.queue.backoff.ms before fetching again (1 s by default: the engine then
# waited up to a second for the snapshot after the prefetched ones; docs/benchmarks.md).
CURSOR_PREFETCH = {
    "queued.max.messages.kbytes": 4096,
    "queued.min.messages": 2000,
    "fetch.queue.backoff.ms": 5,
}


class _Transient(Exception):
    pass


@dataclass
class _Cursor:
    """A consumer standing on one partition: `position` is the offset after the last record it
    handed out (-1: none), `fetched` what it took beyond that, in order (a batch can reach past
    the offset asked: transaction markers take offsets but are no records)."""

    consumer: Consumer
    position: int = -1
    fetched: deque[Message] = field(default_factory=deque)

    def seek(self, name: str, partition: int, offset: int) -> None:
        self.consumer.assign([TopicPartition(name, partition, offset)])
        self.position = offset
        self.fetched.clear()

    def lost(self) -> None:
        """Where it stands is unknown (an error, a gap): the next read seeks."""
        self.position = -1
        self.fetched.clear()

    def next(self, wanted: int, wait_s: float) -> Message | None:
        """The next record on the partition, fetching up to `wanted` at once."""
        if not self.fetched:
            self.fetched.extend(take(self.consumer, max(1, min(wanted, FORWARD_SCAN)), wait_s))
        return self.fetched.popleft() if self.fetched else None


class KafkaReads:
    def __init__(
        self,
        settings: FleetSettings,
        topology: Topology,
        serde: Serde,
        policy: RetryPolicy,
        metrics: Metrics,
        *,
        domain: str = "buffer",
        cache_size: int = 1024,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.domain = domain
        self.settings = settings
        self.topology = topology
        self.serde = serde
        self.policy = policy
        self.metrics = metrics
        self.consumer: Consumer | None = None
        # Bounded both in records and in the bytes they were on the wire.
        self.cache: OrderedDict[tuple[str, int, int], tuple[Mapping[str, Any], int]] = OrderedDict()
        self.cache_size, self.cache_bytes, self._cached_bytes = cache_size, cache_bytes, 0
        self._cursors: OrderedDict[tuple[str, int], _Cursor] = OrderedDict()  # most recent last

    def _consumer(self) -> Consumer:
        if self.consumer is None:
            self.consumer = Consumer(clients.reader_config(self.settings))
        return self.consumer

    def _schema(self, topic: str) -> str:
        schema = self.topology.topics[topic].value_schema
        assert schema is not None, f"{topic} has no contract to decode with"
        return schema

    def get(self, topic: str, partition: int, offset: int) -> Mapping[str, Any]:
        key = (topic, partition, offset)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key][0]
        try:
            value, size = retry(
                self.policy,
                self.domain,
                lambda: self._read(topic, partition, offset),
                retry_on=(_Transient, KafkaException),
                on_retry=lambda _d: self.metrics.count("retries", domain=self.domain),
            )
        except RetriesExhausted as exc:
            self._renew()
            raise Unavailable(f"{self._where(topic, partition, offset)}: {exc.last}") from exc
        self.cache[key] = (value, size)
        self._cached_bytes += size
        while len(self.cache) > self.cache_size or self._cached_bytes > self.cache_bytes:
            self._cached_bytes -= self.cache.popitem(last=False)[1][1]
        return value

    def _cursor(self, topic: str, partition: int) -> _Cursor:
        key = (topic, partition)
        if key in self._cursors:
            self._cursors.move_to_end(key)
            return self._cursors[key]
        if len(self._cursors) >= MAX_CURSORS:
            _close_aside(self._cursors.popitem(last=False)[1].consumer)
        cursor = self._cursors[key] = _Cursor(
            Consumer(clients.reader_config(self.settings, **CURSOR_PREFETCH))
        )
        return cursor

    def _read(self, topic: str, partition: int, offset: int) -> tuple[Mapping[str, Any], int]:
        cursor = self._cursor(topic, partition)
        if cursor.position < 0 or not 0 <= offset - cursor.position <= FORWARD_SCAN:
            cursor.seek(self.settings.topic(topic), partition, offset)
        deadline = time.monotonic() + READ_DEADLINE_S
        while time.monotonic() < deadline:
            msg = cursor.next(offset - cursor.position + 1, 1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                cursor.lost()
                raise _Transient(str(msg.error()))
            cursor.position = msg.offset() + 1
            if msg.offset() < offset:
                continue
            if msg.offset() > offset:
                cursor.lost()
                raise self._missing(topic, partition, offset)
            try:
                raw = msg.value() or b""
                value = self.serde.decode(
                    self._schema(topic), raw, topic=topic, partition=partition, offset=offset
                )
                return value, len(raw)
            except DecodeError as exc:
                raise ReadError("UNDECODABLE", str(exc)) from exc
        cursor.lost()
        raise _Transient(f"timed out reading {self._where(topic, partition, offset)}")

    def _missing(self, topic: str, partition: int, offset: int) -> ReadError:
        """Why the record at `offset` is not there: deleted by retention, or never a record."""
        name = self.settings.topic(topic)
        low, _ = clients.watermarks(self._consumer(), name, partition, 10)
        where = self._where(topic, partition, offset)
        if offset < low:
            return ReadError(
                "INPUT_DELETED", f"{where} is below the low watermark {low}: retention deleted it"
            )
        return ReadError("NO_SUCH_RECORD", f"{where} is not a data record")

    def tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        """The last `count` records' values; undecodable ones are skipped (the worker that
        wrote them dead-letters them where they are consumed)."""
        if count <= 0:
            return []
        try:
            return retry(
                self.policy,
                self.domain,
                lambda: self._tail(topic, partition, count),
                retry_on=(_Transient, KafkaException),
            )
        except RetriesExhausted as exc:
            self._renew()
            raise Unavailable(
                f"reading the tail of {self.settings.topic(topic)}[{partition}]: {exc.last}"
            ) from exc

    def _tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        consumer = self._consumer()
        name = self.settings.topic(topic)
        low, high = clients.watermarks(consumer, name, partition, 10)
        if high <= low:
            return []
        consumer.assign([TopicPartition(name, partition, max(low, high - count))])
        values: list[Mapping[str, Any]] = []
        deadline = time.monotonic() + 3 * READ_DEADLINE_S
        while consumer.position([TopicPartition(name, partition)])[0].offset < high:
            if time.monotonic() > deadline:
                raise _Transient(f"timed out reading the tail of {name}[{partition}]")
            # 50 ms: a tail that ends in a transaction marker yields nothing (state/changelog.py)
            for msg in consumer.consume(num_messages=1000, timeout=0.05):
                if msg.error() is not None:
                    raise _Transient(str(msg.error()))
                try:
                    values.append(self.serde.decode(self._schema(topic), msg.value()))
                except DecodeError:
                    continue
        return values

    def _where(self, topic: str, partition: int, offset: int) -> str:
        return f"{self.settings.topic(topic)}[{partition}]@{offset}"

    def _renew(self) -> None:
        """After reads kept failing (a broker restart can leave a client fetching nowhere),
        start over with new clients; the old ones are closed off the main thread, bounded."""
        old = [self.consumer, *(c.consumer for c in self._cursors.values())]
        self.consumer, self._cursors = None, OrderedDict()
        for consumer in old:
            if consumer is not None:
                _close_aside(consumer)

    def close(self) -> None:
        for consumer in [self.consumer, *(c.consumer for c in self._cursors.values())]:
            if consumer is not None:
                consumer.close()
        self.consumer, self._cursors = None, OrderedDict()


def _close_aside(consumer: Consumer) -> None:
    threading.Thread(target=consumer.close, name="reads-close", daemon=True).start()
