"""The compiled Avro codec (native/, `regime_fleet_native.Codec`) per contract, when it is
installed: a record's body written and read about ten times faster than fastavro does, byte
for byte and value for value the same (tests/unit/contracts/test_codec.py). Where it cannot
vouch for a value or a body (a type fastavro would convert, a union with several branches to
choose from, a missing field, anything malformed) it says None and Serde runs fastavro, which
also raises fastavro's errors: the codec never decides what is valid.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from workers.contracts.schemas import contract, without_logical_types

try:
    import regime_fleet_native

    _CODEC: Any = regime_fleet_native.Codec
    _MISSING = ""
except (ImportError, AttributeError) as exc:  # not built here (no cargo), or a build without it
    _CODEC = None
    _MISSING = str(exc)


@cache
def compiled_codec(name: str) -> Any | None:
    """The compiled codec of the `name` contract, or None (not installed, or a schema it does
    not support)."""
    if _CODEC is None:
        return None
    try:
        return _CODEC(without_logical_types(contract(name).schema))
    except (ValueError, TypeError):  # a schema the codec does not take: fastavro alone
        return None


def codec_path(compiled: bool = True) -> str:
    """Which Avro codec records go through, and why: for a worker's start log."""
    if not compiled:
        return "fastavro: runtime.compiled_codec is false"
    if _CODEC is None:
        return f"fastavro: the compiled codec is not installed ({_MISSING}); `make venv` builds it (native/)"
    return "the compiled codec (regime_fleet_native), fastavro where it defers"
