"""The RocksDB (rocksdict) committed store of one (store, partition): what a live worker's
StoreView reads. It mirrors memory.py; the changelog carries the same bytes it holds.

A corrupt local database is derivable state: it is wiped (and restored from the changelog
by changelog.py); one locked by another process is a StoreError.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from workers.state.base import (
    CHANGELOG_OFFSET,
    META,
    SOURCE_OFFSET,
    Codec,
    JsonCodec,
    StoreChanges,
    StoreError,
)
from workers.state.cache import DecodedCache


class PartitionStore:
    """RocksDB for one (store, partition); only ever written after a checkpoint commits."""

    def __init__(
        self, path: Path, *, codec: Codec | None = None, block_cache_mb: int = 32, write_buffer_mb: int = 8
    ) -> None:
        self.path = path
        self.codec: Codec = codec or JsonCodec()
        self._options = Options(raw_mode=True)
        self._options.create_if_missing(True)
        self._options.set_write_buffer_size(write_buffer_mb * 1024 * 1024)
        self._options.set_max_write_buffer_number(2)
        self._options.set_max_open_files(64)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(block_cache_mb * 1024 * 1024))
        self._options.set_block_based_table_factory(table)
        self.wiped = False
        self._decoded = DecodedCache()
        self._db = self._open()

    def _open(self) -> Rdict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return Rdict(str(self.path), self._options)
        except Exception as exc:
            if "lock" in str(exc).lower():
                raise StoreError(f"store {self.path} is locked by another process: {exc}") from exc
            # A corrupt local DB is derivable state: wipe it and restore from the changelog.
            shutil.rmtree(self.path, ignore_errors=True)
            self.wiped = True
            return Rdict(str(self.path), self._options)

    def get(self, key: str) -> Any:
        """The decoded value, shared with other readers: cores never mutate what they get."""
        return self._decoded.get(key, self._load)

    def _load(self, key: str) -> Any:
        raw = self._db.get(key.encode())
        return None if raw is None else self.codec.decode(raw)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for raw_key, raw in self._db.items(from_key=prefix.encode()):
            key = raw_key.decode()
            if not key.startswith(prefix):
                break
            if not key.startswith(META):
                yield key, self.codec.decode(raw)

    def meta(self, key: str) -> int | None:
        raw = self._db.get(key.encode())
        return None if raw is None else int(raw)

    def apply(
        self, changes: StoreChanges, *, changelog_offset: int | None, source_offset: int | None
    ) -> None:
        """Write one checkpoint's changes and offsets atomically."""
        batch = WriteBatch(raw_mode=True)
        self._decoded.forget(changes)
        for key, value in changes.items():
            if value is None:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), value)
        if changelog_offset is not None:
            batch.put(CHANGELOG_OFFSET.encode(), str(changelog_offset).encode())
        if source_offset is not None:
            batch.put(SOURCE_OFFSET.encode(), str(source_offset).encode())
        self._db.write(batch)

    def wipe(self) -> None:
        self._decoded.clear()
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.wiped = True
        self._db = self._open()

    def close(self) -> None:
        self._db.close()
