"""The api's tails of regime.events and signals.enriched: every partition, from the
beginning, read_committed, without a consumer group (each replica keeps the whole tables and
serves every stream)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import ContractError, Serde
from workers.runtime.reader import take

from .streams import BY_TOPIC, Position, Published, Slot, published

Batch = list[tuple[Published, dict[str, Any]]]


class TailError(Exception):
    """A served topic cannot be read (missing topic, timeout)."""


def partitions_of(settings: FleetSettings, topic: str) -> list[int]:
    consumer = Consumer(clients.reader_config(settings))
    try:
        name = settings.topic(topic)
        meta = consumer.list_topics(name, timeout=10).topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            raise TailError(f"topic {name} does not exist: run `regime-fleet topics create`")
        return sorted(meta.partitions)
    finally:
        consumer.close()


def _decode(serde: Serde, topic: str, msg: Message) -> tuple[Published, dict[str, Any]]:
    """The record and its hub entry; ContractError (or ValueError: not JSON-able) when bad."""
    event = serde.decode(
        BY_TOPIC[topic].contract, msg.value(), topic=topic, partition=msg.partition(), offset=msg.offset()
    )
    stamp = msg.timestamp()[1] if msg.timestamp()[0] else 0
    return published(topic, msg.partition(), msg.offset(), event, stamp), event


class Tail:
    """One topic, decoded in its own thread; `deliver` (thread-safe) gets each batch in
    offset order per partition."""

    def __init__(
        self,
        settings: FleetSettings,
        serde: Serde,
        topic: str,
        partitions: list[int],
        deliver: Callable[[Batch], None],
        log: Any,
    ) -> None:
        self.settings = settings
        self.serde = serde
        self.topic = topic
        self.partitions = partitions
        self.deliver = deliver
        self.log = log
        self.ready = threading.Event()  # caught up with what was there at start
        self.undecodable = 0
        self.low: dict[int, int] = {}  # per partition, the oldest offset retained when read
        self._stop = threading.Event()
        self._next: dict[int, int] = {}  # per partition, the offset after the last one delivered
        self._thread = threading.Thread(target=self._loop, name=f"tail-{topic}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        """Follow the topic; a Kafka failure (a broker restarting, a topic whose leader is not
        elected yet) starts over from where delivery stopped after a second: never dies."""
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except Exception as exc:  # the api stays not ready until caught up; /status says why
                self.log.error("tail_failed", topic=self.topic, error=f"{type(exc).__name__}: {exc}")
                self._stop.wait(1.0)

    def _follow(self) -> None:
        name = self.settings.topic(self.topic)
        consumer = Consumer(clients.reader_config(self.settings, **{"fetch.wait.max.ms": 5}))
        try:
            targets = {}
            for p in self.partitions:
                low, targets[p] = clients.watermarks(consumer, name, p, 10)
                self.low.setdefault(p, low)
            consumer.assign(
                [TopicPartition(name, p, self._next.get(p, OFFSET_BEGINNING)) for p in self.partitions]
            )
            while not self._stop.is_set():
                msgs = take(consumer, 500, 0.1)
                batch: Batch = []
                for msg in msgs:
                    if msg.error() is not None:
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            self.log.warning("tail_error", topic=name, error=str(msg.error()))
                        continue
                    try:
                        batch.append(_decode(self.serde, self.topic, msg))
                    except (ContractError, ValueError) as exc:
                        self.undecodable += 1
                        self.log.error(
                            "tail_undecodable",
                            topic=name,
                            partition=msg.partition(),
                            offset=msg.offset(),
                            error=str(exc),
                        )
                if batch:
                    self.deliver(batch)
                for msg in msgs:
                    if msg.error() is None:
                        self._next[msg.partition()] = msg.offset() + 1
                if not self.ready.is_set() and self._caught_up(consumer, name, targets):
                    self.ready.set()
                    self.log.info("tail_ready", topic=name)
        finally:
            consumer.close()

    def _caught_up(self, consumer: Consumer, name: str, targets: dict[int, int]) -> bool:
        tps = consumer.position([TopicPartition(name, p) for p in self.partitions])
        return all(tp.offset >= targets[tp.partition] or targets[tp.partition] == 0 for tp in tps)


def read_range(
    settings: FleetSettings, serde: Serde, after: Position, until: Position, timeout_s: float
) -> list[Published]:
    """The records after `after` up to `until` (inclusive) of each slot `after` names, per
    slot in offset order, slots one after the other: a resumed stream's history."""
    consumer = Consumer(clients.reader_config(settings))
    out: list[Published] = []
    deadline = time.monotonic() + timeout_s
    try:
        for slot, last in sorted(after.items()):
            if last < until[slot]:
                out += _read_slot(consumer, settings, serde, slot, last, until[slot], deadline)
    finally:
        consumer.close()
    return out


def _read_slot(
    consumer: Consumer,
    settings: FleetSettings,
    serde: Serde,
    slot: Slot,
    last: int,
    until: int,
    deadline: float,
) -> list[Published]:
    topic, p = slot
    name = settings.topic(topic)
    consumer.assign([TopicPartition(name, p, last + 1)])
    out: list[Published] = []
    done = False
    while not done:
        if time.monotonic() > deadline:
            raise TailError(f"reading {name}[{p}] from {last + 1} timed out")
        for msg in consumer.consume(500, 0.1):
            if msg.error() is not None:
                continue
            if msg.offset() > until:
                done = True
                break
            done = msg.offset() >= until
            try:
                out.append(_decode(serde, topic, msg)[0])
            except (ContractError, ValueError):
                continue  # the live tail skipped it too (and logged it)
        if not done:
            done = consumer.position([TopicPartition(name, p)])[0].offset > until
    return out
