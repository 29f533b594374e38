"""An in-memory committed store: the driver's (replays, the bench, tests), never a live worker's."""

from __future__ import annotations

from typing import Any

from workers.processing.state import Codec, JsonCodec, StoreView


class MemoryStore:
    def __init__(self, codec: Codec | None = None) -> None:
        self.data: dict[str, Any] = {}
        self.codec: Codec = codec or JsonCodec()

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def view(self) -> StoreView:
        return StoreView(self)

    def commit(self, view: StoreView) -> None:
        """What a checkpoint does to RocksDB: apply the view's pending changes (encoded and
        decoded again, so a value that does not survive the codec fails here as it would live)."""
        for key, value in view.take_changes().items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = self.codec.decode(value)
