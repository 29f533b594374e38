"""Restore a PartitionStore from its compacted changelog topic.

Restore reads from the store's last applied changelog offset + 1 up to the high watermark,
judging "done" by the consumer position, not by the last record seen: a changelog that ends
in a transaction marker has a high watermark one past its last data record. Every record is
decoded with the store's codec on the way in: one that breaks the store's contract and is not
superseded by a later record of its key is CorruptChangelog (naming topic[partition]@offset),
the same for every store; the store is wiped, so no later restore starts past it. The runtime
then rebuilds the partition from its input topics (workers/runtime/rebuild.py). A local store
ahead of its changelog (the topic was deleted and recreated) is wiped and rebuilt rather than
trusted. `latest` reads what of a changelog is readable, to check a rebuild against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from workers import clients
from workers.state.base import CHANGELOG_OFFSET, Codec, StoreChanges, StoreCorruption, StoreError
from workers.state.rocksdb import PartitionStore

SOURCE_OFFSET_HEADER = "source_offset"


class CorruptChangelog(StoreCorruption):
    """Changelog records that break the store's contract and are the newest of their key."""

    def __init__(self, topic: str, partition: int, records: dict[str, tuple[int, str]]) -> None:
        first = min(records.values())
        super().__init__(
            f"corrupt changelog record at {topic}[{partition}]@{first[0]}: {first[1]}"
            + (f" (and {len(records) - 1} more)" if len(records) > 1 else "")
        )
        self.topic, self.partition, self.records = topic, partition, records

    @property
    def where(self) -> list[str]:
        return [f"{self.topic}[{self.partition}]@{o} ({key})" for key, (o, _) in sorted(self.records.items())]


@dataclass
class RestoreResult:
    records: int = 0
    skipped: int = 0
    full_rebuild: bool = False
    seconds: float = 0.0


def restore(
    store: PartitionStore,
    consumer: Consumer,
    topic: str,
    partition: int,
    *,
    skip_source_offsets_from: int | None = None,
    timeout_s: float = 120.0,
) -> RestoreResult:
    """Bring `store` up to the changelog's high watermark.

    skip_source_offsets_from: changes produced for input offsets at or past this one are
    skipped (exactly-once: they belong to work that was never committed).
    """
    started = time.monotonic()
    low, high = clients.watermarks(consumer, topic, partition, 10)
    stored = store.meta(CHANGELOG_OFFSET)
    # No local offset (a new, lost or wiped DB) means a rebuild from the whole changelog.
    result = RestoreResult(full_rebuild=store.wiped or (stored is None and high > low))
    start = (stored + 1) if stored is not None else low
    if stored is not None and (start < low or stored >= high):
        # Retention removed what we need, or the changelog is younger than the local store:
        # rebuild from scratch.
        store.wipe()
        result.full_rebuild = True
        start = low
    if start >= high:
        result.seconds = time.monotonic() - started
        return result
    consumer.assign([TopicPartition(topic, partition, start if start > 0 else OFFSET_BEGINNING)])
    deadline = time.monotonic() + timeout_s
    corrupt: dict[str, tuple[int, str]] = {}  # key -> (offset, why) of a record not yet superseded
    try:
        while True:
            position = consumer.position([TopicPartition(topic, partition)])[0].offset
            if position >= high:
                break
            if time.monotonic() > deadline:
                raise StoreError(
                    f"restore of {topic}[{partition}] stuck at {position} < high watermark {high}"
                )
            changes: StoreChanges = {}
            last_offset, last_source = None, None
            # A short wait: a tail of transaction markers only (a changelog's usual end after
            # a clean checkpoint) yields no message at all, and the loop's position check
            # ends the restore (0.5 s here cost every restart 0.5 s per store and partition).
            for msg in consumer.consume(num_messages=1000, timeout=0.05):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise StoreError(f"restore of {topic}[{partition}] failed: {msg.error()}")
                source = _source_offset(msg.headers())
                last_offset = msg.offset()
                if (
                    skip_source_offsets_from is not None
                    and source is not None
                    and source >= skip_source_offsets_from
                ):
                    result.skipped += 1
                    continue
                last_source = source if source is not None else last_source
                key = msg.key()
                if key is None:
                    continue
                name, value = key.decode("utf-8", "replace"), msg.value()
                if value is not None:
                    try:
                        accepted = _accepted(store, changes, name, value)
                    except Exception as exc:  # the codec's own StoreCorruption too
                        corrupt[name] = (msg.offset(), f"{type(exc).__name__}: {exc}")
                        continue
                    if not accepted:
                        result.skipped += 1
                        continue
                corrupt.pop(name, None)  # a later record of the key supersedes a corrupt one
                changes[name] = value
                result.records += 1
            if last_offset is not None:
                store.apply(changes, changelog_offset=last_offset, source_offset=last_source)
    finally:
        consumer.unassign()
    if corrupt:
        store.wipe()  # no later restore may start past the corrupt record
        raise CorruptChangelog(topic, partition, corrupt)
    result.seconds = time.monotonic() - started
    return result


def _accepted(store: PartitionStore, changes: StoreChanges, key: str, value: bytes) -> bool:
    codec = store.codec
    new = codec.decode(value)
    pending = changes.get(key)
    current = codec.decode(pending) if pending is not None else store.get(key)
    return codec.accept(current, new)


@dataclass
class Latest:
    """What of a changelog partition is readable: the newest decoded value per key (None: a
    tombstone), the keys whose newest record is corrupt, and the high watermark."""

    values: dict[str, Any] = field(default_factory=dict)
    corrupt: dict[str, int] = field(default_factory=dict)  # key -> offset
    high: int = 0
    source: int | None = None  # the greatest input offset (source_offset header) it reflects


def latest(
    codec: Codec,
    consumer: Consumer,
    topic: str,
    partition: int,
    *,
    skip_source_offsets_from: int | None = None,
    timeout_s: float = 120.0,
) -> Latest:
    """Read the whole changelog partition: per key its newest record, decoded or marked corrupt
    (records of work that never committed are skipped, as restore does)."""
    low, high = clients.watermarks(consumer, topic, partition, 10)
    out = Latest(high=high)
    if high <= low:
        return out
    consumer.assign([TopicPartition(topic, partition, low if low > 0 else OFFSET_BEGINNING)])
    deadline = time.monotonic() + timeout_s
    try:
        while consumer.position([TopicPartition(topic, partition)])[0].offset < high:
            if time.monotonic() > deadline:
                raise StoreError(f"reading {topic}[{partition}] timed out below {high}")
            # A short wait: a tail of transaction markers only (a changelog's usual end after
            # a clean checkpoint) yields no message at all, and the loop's position check
            # ends the restore (0.5 s here cost every restart 0.5 s per store and partition).
            for msg in consumer.consume(num_messages=1000, timeout=0.05):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise StoreError(f"reading {topic}[{partition}] failed: {msg.error()}")
                source, key = _source_offset(msg.headers()), msg.key()
                skip = skip_source_offsets_from
                uncommitted = skip is not None and source is not None and source >= skip
                if key is None or uncommitted:
                    continue
                if source is not None:
                    out.source = max(source, out.source if out.source is not None else source)
                name, value = key.decode("utf-8", "replace"), msg.value()
                out.corrupt.pop(name, None)
                try:
                    out.values[name] = None if value is None else codec.decode(value)
                except Exception:
                    out.values.pop(name, None)
                    out.corrupt[name] = msg.offset()
    finally:
        consumer.unassign()
    return out


def _source_offset(headers: list[tuple[str, bytes]] | None) -> int | None:
    for name, value in headers or []:
        if name == SOURCE_OFFSET_HEADER:
            return int(value)
    return None
