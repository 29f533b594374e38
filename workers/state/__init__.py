"""Local state, one package: the store protocol, errors and view (base.py, view.py), the
in-memory store (memory.py), the RocksDB store (rocksdb.py) with its decoded-value cache
(cache.py), and the restore from a store's compacted changelog (changelog.py).

Only what every backend shares is exported here; a backend is imported by its module, so
the processor API and the driver never load RocksDB or Kafka.
"""

from workers.state.base import (
    CHANGELOG_OFFSET,
    SOURCE_OFFSET,
    Codec,
    CommittedStore,
    JsonCodec,
    StateStore,
    StoreChanges,
    StoreCorruption,
    StoreError,
)
from workers.state.view import StoreView

__all__ = [
    "CHANGELOG_OFFSET",
    "SOURCE_OFFSET",
    "Codec",
    "CommittedStore",
    "JsonCodec",
    "StateStore",
    "StoreChanges",
    "StoreCorruption",
    "StoreError",
    "StoreView",
]
