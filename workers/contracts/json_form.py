"""The canonical JSON form of a contract record: plain objects, unions as value or null."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def dumps(record: Mapping[str, Any] | list[Any]) -> str:
    """Deterministic JSON: sorted keys, no spaces, shortest round-trip floats, bytes as hex."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_default)


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
