"""A RocksDB (rocksdict) store for one partition, and the per-batch view processors write to.

Keys are strings, values JSON-compatible objects (the changelog carries them as canonical JSON
bytes). Metadata lives under the reserved prefix `__meta__/`: the last applied changelog offset
and the last input (source) offset whose changes it holds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from rocksdict import Options, Rdict, WriteBatch

META = "__meta__/"
CHANGELOG_OFFSET = META + "changelog_offset"
SOURCE_OFFSET = META + "source_offset"
_DELETED = object()
_ABSENT = object()


class StoreError(Exception):
    """A store that cannot be opened, written or restored; names the store and partition."""


class StoreCorruption(StoreError):
    """A changelog record that breaks the store's contract: fatal, the partition is refused."""


class JsonCodec:
    """Values as canonical JSON; every changelog record is accepted on restore."""

    checks_on_restore = False

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def accept(self, current: Any, new: Any) -> bool:
        return True


class Codec(Protocol):
    checks_on_restore: bool

    def encode(self, value: Any) -> bytes: ...
    def decode(self, data: bytes) -> Any: ...
    def accept(self, current: Any, new: Any) -> bool:
        """Restore: may `new` (later in the changelog) replace `current`? Raise if corrupt."""
        ...


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
        from rocksdict import BlockBasedOptions, Cache

        table = BlockBasedOptions()
        table.set_block_cache(Cache(block_cache_mb * 1024 * 1024))
        self._options.set_block_based_table_factory(table)
        self.wiped = False
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
        self, changes: dict[str, bytes | None], *, changelog_offset: int | None, source_offset: int | None
    ) -> None:
        """Write one checkpoint's changes and offsets atomically."""
        batch = WriteBatch(raw_mode=True)
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
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.wiped = True
        self._db = self._open()

    def close(self) -> None:
        self._db.close()


class StoreView:
    """What a processor sees during one batch: committed RocksDB state plus pending changes."""

    def __init__(self, store: PartitionStore) -> None:
        self.store = store
        self.pending: dict[str, Any] = {}
        self._undo: dict[str, Any] | None = None

    def begin_record(self) -> None:
        """Start journaling, so one failed record's writes can be rolled back alone."""
        self._undo = {}

    def rollback_record(self) -> None:
        for key, before in (self._undo or {}).items():
            if before is _ABSENT:
                self.pending.pop(key, None)
            else:
                self.pending[key] = before
        self._undo = None

    def _journal(self, key: str) -> None:
        if self._undo is not None and key not in self._undo:
            self._undo[key] = self.pending.get(key, _ABSENT)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.pending:
            value = self.pending[key]
            return default if value is _DELETED else value
        value = self.store.get(key)
        return default if value is None else value

    def put(self, key: str, value: Any) -> None:
        self._journal(key)
        self.pending[key] = value

    def delete(self, key: str) -> None:
        self._journal(key)
        self.pending[key] = _DELETED

    def keys(self, prefix: str = "") -> list[str]:
        found = {k for k, _ in self.store.items(prefix)}
        for k, v in self.pending.items():
            if k.startswith(prefix):
                (found.discard if v is _DELETED else found.add)(k)
        return sorted(found)

    def take_changes(self) -> dict[str, bytes | None]:
        """The batch's changes as changelog values (None = tombstone); clears them."""
        encode = self.store.codec.encode
        out = {k: None if v is _DELETED else encode(v) for k, v in self.pending.items()}
        self.pending = {}
        self._undo = None
        return out

    def discard(self) -> None:
        self.pending = {}
        self._undo = None
