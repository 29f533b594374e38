"""The in-memory committed store: the driver's (replays, the bench, tests), never a live
worker's. It mirrors rocksdb.py, so one store test suite runs against both."""

from __future__ import annotations

from typing import Any

from workers.state.base import CHANGELOG_OFFSET, SOURCE_OFFSET, Codec, JsonCodec, StoreChanges
from workers.state.view import StoreView

_GONE = object()  # a tombstone, apart from any value a codec may decode to


class MemoryStore:
    """Decoded values by key, plus the metadata offsets (a CommittedStore)."""

    def __init__(self, codec: Codec | None = None) -> None:
        self.data: dict[str, Any] = {}
        self.codec: Codec = codec or JsonCodec()
        self._meta: dict[str, int] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def meta(self, key: str) -> int | None:
        return self._meta.get(key)

    def apply(
        self, changes: StoreChanges, *, changelog_offset: int | None, source_offset: int | None
    ) -> None:
        """Every value is decoded before any is written, so a value that does not survive the
        codec fails here (StoreCorruption) as it would live, and leaves the store as it was."""
        decoded = {k: _GONE if v is None else self.codec.decode(v) for k, v in changes.items()}
        for key, value in decoded.items():
            if value is _GONE:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        for name, offset in ((CHANGELOG_OFFSET, changelog_offset), (SOURCE_OFFSET, source_offset)):
            if offset is not None:
                self._meta[name] = offset

    def view(self) -> StoreView:
        return StoreView(self)

    def commit(self, view: StoreView) -> None:
        """What a checkpoint does to a store: apply the view's pending changes."""
        self.apply(view.take_changes(), changelog_offset=None, source_offset=None)
