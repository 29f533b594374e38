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

    def changelog(self, store: str) -> str:
        return self.settings.topic(self.spec.stores[store])

    def open(self, partition: int, reader: Consumer, *, skip_from: int | None) -> int | None:
        """Open and restore this partition's stores (incrementally, if already open); the
        lowest input offset they reflect."""
        rt = self.settings.runtime
        source: int | None = None
        for store in self.names:
            ps = self.stores.get((store, partition)) or PartitionStore(
                Path(rt.state_dir) / self.group / store / str(partition),
                codec=self.codecs[store],
                block_cache_mb=rt.rocksdb_block_cache_mb,
                write_buffer_mb=rt.rocksdb_write_buffer_mb,
            )
            result = restore(ps, reader, self.changelog(store), partition, skip_source_offsets_from=skip_from)
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
            self.stores[(store, partition)] = ps
            self.views[(store, partition)] = StoreView(ps)
            stored = ps.meta(SOURCE_OFFSET)
            source = stored if source is None else min(source, stored if stored is not None else -1)
        return source

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
        for key in [k for k in self.stores if k[1] in partitions]:
            self.views.pop(key, None)
            self.stores.pop(key).close()

    def close(self) -> None:
        self.release({p for _, p in self.stores})
