"""The decoded values of a store's recent reads, so a hot key decodes once: bounded, the
oldest entry out first, and told which keys a write changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

DECODED_CACHE = 4096  # decoded values kept per store and partition


class DecodedCache:
    """Key -> decoded value (None for an absent key, which is remembered too)."""

    def __init__(self, size: int = DECODED_CACHE) -> None:
        if size < 1:
            raise ValueError(f"a decoded cache holds at least one value, not {size}")
        self.size = size
        self._values: dict[str, Any] = {}

    def get(self, key: str, load: Callable[[str], Any]) -> Any:
        """The cached value, else `load(key)`, remembered (evicting the oldest when full)."""
        values = self._values
        if key in values:
            return values[key]
        value = load(key)
        if len(values) >= self.size:
            del values[next(iter(values))]
        values[key] = value
        return value

    def forget(self, keys: Iterable[str]) -> None:
        """Keys a write is about to change: their next read loads them again."""
        for key in keys:
            self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)
