"""A processor's view of one committed store: reads fall through to it, writes wait in
`pending` until the runtime (or the driver) checkpoints them, and one record's writes can be
rolled back alone."""

from __future__ import annotations

from typing import Any

from workers.state.base import CommittedStore, StoreChanges

_DELETED = object()
_ABSENT = object()


class StoreView:
    """Committed state plus the pending changes of the current batch (a StateStore)."""

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

    def take_changes(self) -> StoreChanges:
        """The batch's changes as changelog values (None = tombstone); clears them."""
        encode = self.store.codec.encode
        out = {k: None if v is _DELETED else encode(v) for k, v in self.pending.items()}
        self.pending = {}
        self._undo = None
        return out

    def discard(self) -> None:
        self.pending = {}
        self._undo = None
