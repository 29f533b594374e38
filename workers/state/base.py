"""What every store is: the errors, the codec, the committed-store protocol and what a
processor reads and writes. Backends (memory.py, rocksdb.py) implement it side by side.

Keys are strings. Metadata (offsets) lives apart from the data under the reserved prefix
`__meta__/`: the last applied changelog offset and the last input (source) offset whose
changes the store holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

META = "__meta__/"
CHANGELOG_OFFSET = META + "changelog_offset"
SOURCE_OFFSET = META + "source_offset"
StoreChanges = dict[str, bytes | None]  # key -> encoded value, None a tombstone (the changelog's form)


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

    def get(self, key: str) -> Any:
        """The decoded value (None: absent), shared with other readers: never mutate it."""
        ...

    def items(self, prefix: str = "") -> Iterable[tuple[str, Any]]:
        """(key, decoded value) for keys starting with `prefix`, in key order, metadata never."""
        ...

    def meta(self, key: str) -> int | None:
        """A metadata offset (CHANGELOG_OFFSET, SOURCE_OFFSET), None before the first apply."""
        ...

    def apply(
        self, changes: StoreChanges, *, changelog_offset: int | None, source_offset: int | None
    ) -> None:
        """Write one checkpoint's changes and offsets, all or nothing."""
        ...


class StateStore(Protocol):
    """What a processor reads and writes. A value from `get` may be shared with later reads:
    never change it in place, `put` a new one."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> list[str]: ...
