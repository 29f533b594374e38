"""Local state: one RocksDB per store per assigned partition, backed by a compacted changelog."""

from workers.state.store import PartitionStore, StoreError, StoreView

__all__ = ["PartitionStore", "StoreError", "StoreView"]
