"""The stores of the partitions a worker owns: opened and restored on assignment, handed to
the processor as views, written after each checkpoint, closed on revoke (releasing the
RocksDB LOCK for the next owner)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from workers.config import FleetSettings
from workers.processing import Processor
from workers.runtime.observability import WorkerMetrics
from workers.state import SOURCE_OFFSET, StoreChanges, StoreView
from workers.state.base import CHANGELOG_OFFSET
from workers.state.changelog import restore
from workers.state.rocksdb import PartitionStore
from workers.topology import WorkerSpec

Changes = dict[tuple[str, int], StoreChanges]  # the changes of every (store, partition) of a batch


class AssignedStores:
    def __init__(
        self,
        settings: FleetSettings,
        spec: WorkerSpec,
        processor: Processor,
        group: str,
        metrics: WorkerMetrics,
        log: Any,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.names: tuple[str, ...] = tuple(processor.stores)
        self.codecs = processor.stores
        self.group = group
        self.metrics = metrics
        self.log = log
        self.stores: dict[tuple[str, int], PartitionStore] = {}
        self.views: dict[tuple[str, int], StoreView] = {}
        # Partitions whose stores were opened new and found nothing in their changelogs: a
        # lost state dir *and* a deleted or recreated changelog look like this (assignment.py).
        self.restored_empty: set[int] = set()

    def changelog(self, store: str) -> str:
        return self.settings.topic(self.spec.stores[store])

    def open(self, partition: int, reader: Consumer, *, skip_from: int | None) -> int | None:
        """Open and restore this partition's stores (incrementally, if already open); the
        lowest input offset they reflect. CorruptChangelog leaves the store open and wiped."""
        rt = self.settings.runtime
        source: int | None = None
        empty = True  # every store restored from nothing to nothing (see `restored_empty`)
        for store in self.names:
            ps = self.stores.get((store, partition)) or PartitionStore(
                Path(rt.state_dir) / self.group / store / str(partition),
                codec=self.codecs[store],
                block_cache_mb=rt.rocksdb_block_cache_mb,
                write_buffer_mb=rt.rocksdb_write_buffer_mb,
            )
            fresh = (store, partition) not in self.stores
            self.stores[(store, partition)] = ps
            result = restore(ps, reader, self.changelog(store), partition, skip_source_offsets_from=skip_from)
            empty = empty and fresh and ps.meta(CHANGELOG_OFFSET) is None
            self.metrics.restore_seconds.labels(self.spec.name, store).observe(result.seconds)
            self.metrics.restore_records.labels(self.spec.name, store).inc(result.records)
            self.log.info(
                "store_restored",
                store=store,
                partition=partition,
                records=result.records,
                skipped=result.skipped,
                full_rebuild=result.full_rebuild,
                seconds=round(result.seconds, 3),
            )
            self.views[(store, partition)] = StoreView(ps)
            stored = ps.meta(SOURCE_OFFSET)
            source = stored if source is None else min(source, stored if stored is not None else -1)
        if empty and self.names:
            self.restored_empty.add(partition)
        else:
            self.restored_empty.discard(partition)
        return source

    def source(self, partition: int) -> int | None:
        """The lowest input offset the partition's stores reflect (-1: one reflects none)."""
        offsets = [self.stores[(s, partition)].meta(SOURCE_OFFSET) for s in self.names]
        return min((o if o is not None else -1 for o in offsets), default=None)

    def replace(
        self,
        partition: int,
        store: str,
        state: Mapping[str, Any],
        heal: Mapping[str, Any],
        *,
        changelog_offset: int | None,
        source_offset: int | None,
    ) -> None:
        """A rebuilt store: its state written as committed, and `heal` (key -> value, None a
        tombstone) pending, so the next checkpoint writes it to the changelog."""
        ps = self.stores[(store, partition)]
        ps.wipe()
        encode = ps.codec.encode
        ps.apply(
            {k: encode(v) for k, v in state.items()},
            changelog_offset=changelog_offset,
            source_offset=source_offset,
        )
        view = StoreView(ps)
        for key, value in heal.items():
            if value is None:
                view.delete(key)
            else:
                view.put(key, value)
        self.views[(store, partition)] = view
        self.restored_empty.discard(partition)

    def views_for(self, partition: int) -> Mapping[str, StoreView]:
        return {name: self.views[(name, partition)] for name in self.names if (name, partition) in self.views}

    def dirty(self) -> set[int]:
        return {p for (_, p), view in self.views.items() if view.pending}

    def take_changes(self) -> Changes:
        taken = {key: view.take_changes() for key, view in self.views.items()}
        return {key: changes for key, changes in taken.items() if changes}

    def apply(
        self, changes: Changes, changelog_offsets: dict[tuple[str, int], int], sources: dict[int, int | None]
    ) -> None:
        """Step 5 of the checkpoint: after the commit, write RocksDB with the changelog offset."""
        for (store, partition), pending in changes.items():
            self.stores[(store, partition)].apply(
                pending,
                changelog_offset=changelog_offsets.get((self.changelog(store), partition)),
                source_offset=sources.get(partition),
            )

    def discard(self) -> None:
        for view in self.views.values():
            view.discard()

    def release(self, partitions: set[int]) -> None:
        self.restored_empty -= partitions
        for key in [k for k in self.stores if k[1] in partitions]:
            self.views.pop(key, None)
            self.stores.pop(key).close()

    def close(self) -> None:
        self.release({p for _, p in self.stores})
