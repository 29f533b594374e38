"""Restore a PartitionStore from its compacted changelog topic.

Restore reads from the store's last applied changelog offset + 1 up to the high watermark,
judging "done" by the consumer position, not by the last record seen: a changelog that ends
in a transaction marker has a high watermark one past its last data record. Every record is
decoded with the store's codec on the way in: one that breaks the store's contract is
StoreCorruption (fatal for the partition, naming topic[partition]@offset), the same for every
store. A local store ahead of its changelog (the topic was deleted and recreated) is wiped and
rebuilt rather than trusted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from workers.state.base import CHANGELOG_OFFSET, StoreChanges, StoreCorruption, StoreError
from workers.state.rocksdb import PartitionStore

SOURCE_OFFSET_HEADER = "source_offset"


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
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
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
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
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
                name, value = key.decode(), msg.value()
                if value is not None and not _accepted(
                    store, changes, name, value, f"{topic}[{partition}]@{msg.offset()}"
                ):
                    result.skipped += 1
                    continue
                changes[name] = value
                result.records += 1
            if last_offset is not None:
                store.apply(changes, changelog_offset=last_offset, source_offset=last_source)
    finally:
        consumer.unassign()
    result.seconds = time.monotonic() - started
    return result


def _accepted(store: PartitionStore, changes: StoreChanges, key: str, value: bytes, where: str) -> bool:
    codec = store.codec
    try:
        new = codec.decode(value)
        pending = changes.get(key)
        current = codec.decode(pending) if pending is not None else store.get(key)
        return codec.accept(current, new)
    except Exception as exc:  # the codec's own StoreCorruption too: add where it was found
        raise StoreCorruption(f"corrupt changelog record at {where}: {exc}") from exc


def _source_offset(headers: list[tuple[str, bytes]] | None) -> int | None:
    for name, value in headers or []:
        if name == SOURCE_OFFSET_HEADER:
            return int(value)
    return None
