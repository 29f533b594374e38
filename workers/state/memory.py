"""An in-memory store behind the same StoreView interface: for replays, which must never touch
a live worker's RocksDB, and for unit tests of the pure cores."""

from __future__ import annotations

from typing import Any

from workers.state.store import JsonCodec, StoreView


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.codec = JsonCodec()

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def view(self) -> StoreView:
        return StoreView(self)  # type: ignore[arg-type]

    def commit(self, view: StoreView) -> None:
        """What a checkpoint does to RocksDB: apply the view's pending changes."""
        for key, value in view.take_changes().items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = self.codec.decode(value)
