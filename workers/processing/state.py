"""The state a processor sees: a key-value store per (store, partition), read through a view
that buffers one batch of changes until the runtime checkpoints them.

`StateStore` is what cores use; `StoreView` implements it over any `CommittedStore`: the
RocksDB store of the runtime (workers/state) or the in-memory one of the driver.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

_DELETED = object()
_ABSENT = object()


class StoreError(Exception):
    """A store that cannot be opened, written or restored; names the store and partition."""


class StoreCorruption(StoreError):
    """A changelog record that breaks the store's contract. Every store treats it the same
    way: the partition is refused and the worker turns degraded, saying where (never silent)."""


class Codec(Protocol):
    def encode(self, value: Any) -> bytes: ...
    def decode(self, data: bytes) -> Any:
        """The value, or StoreCorruption when the bytes break the store's contract."""
        ...

    def accept(self, current: Any, new: Any) -> bool:
        """Restore: may `new` (later in the changelog) replace `current`?"""
        ...


class JsonCodec:
    """Values as canonical JSON objects; anything else is corruption."""

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        try:
            value = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreCorruption(f"not canonical JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise StoreCorruption(f"expected a JSON object, got {type(value).__name__}")
        return value

    def accept(self, current: Any, new: Any) -> bool:
        return True


class CommittedStore(Protocol):
    """Committed state of one (store, partition): what a checkpoint last wrote."""

    codec: Codec

    def get(self, key: str) -> Any: ...
    def items(self, prefix: str = "") -> Iterable[tuple[str, Any]]: ...


class StateStore(Protocol):
    """What a processor reads and writes. A value from `get` may be shared with later reads:
    never change it in place, `put` a new one."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> list[str]: ...


class StoreView:
    """Committed state plus the pending changes of the current batch."""

    def __init__(self, store: CommittedStore) -> None:
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
