"""A cut's input hash, in its two versions (docs/contracts.md, "Input hash").

Both are sha256 chains over the cut's buffered RawMarketEvents, oldest first:
H_0 = "", H_i = sha256(H_{i-1} as lowercase hex, then the event's bytes), hex.
- v1: the event's bytes are its canonical JSON (workers/contracts/json_form.py), so computing it
  needs the decoded event and a JSON encoding of it (a fifth of the scheduler's time).
- v2: the event's bytes are its Avro binary encoding (current RawMarketEvent schema, no
  framing): the first field of the RawInputBufferRecord as it is stored in market.buffer. The
  scheduler slices them out of the record's bytes; no decode or encode is needed (in compiled
  code where native/ is built: the same digest, tests/unit/test_native_projection.py).

A run records its version (EngineRunRecord.input_hash_version; records written before the field
existed read as 1), and whatever re-computes a run's hash (provenance show, replays) uses it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from fastavro import schemaless_writer

from workers.contracts.identity import chain_input_hash
from workers.contracts.schemas import contract
from workers.contracts.serde import single_object_header

V1 = 1
V2 = 2
CURRENT = V2  # what new cuts use
VERSIONS = (V1, V2)


class UnknownInputHashVersion(ValueError):
    """A run record names an input hash version this code does not know: upgrade the reader."""

    def __init__(self, version: int) -> None:
        super().__init__(f"input_hash_version {version} is not one of {VERSIONS}: upgrade regime-fleet")
        self.version = version


def fold(
    version: int,
    previous: str,
    event: Mapping[str, Any],
    buffered: Mapping[str, Any] | None = None,
    raw: bytes = b"",
) -> str:
    """Fold one buffered RawMarketEvent into a cut's hash. `buffered` and `raw`: the whole
    RawInputBufferRecord and its bytes as stored, when at hand (v2 slices instead of encoding)."""
    if version == V2:
        digest = _compiled()(previous, raw) if buffered is not None and raw else None
        if digest is not None:
            return digest
        return hashlib.sha256(previous.encode() + event_avro(event, buffered, raw)).hexdigest()
    if version == V1:
        return chain_input_hash(previous, event)
    raise UnknownInputHashVersion(version)


def event_avro(
    event: Mapping[str, Any], buffered: Mapping[str, Any] | None = None, raw: bytes = b""
) -> bytes:
    """The Avro binary encoding of a buffered event: sliced out of `raw` (the buffer record as
    stored, single-object encoded with the current schema), else encoded from the decoded
    event (the same bytes for a record any Avro library wrote: one block per array, minimal varints)."""
    if buffered is not None and raw[:10] == single_object_header("RawInputBufferRecord"):
        tail = _tail_length(buffered)
        if tail is not None and len(raw) - tail > 10 and _tail_starts(buffered, raw, len(raw) - tail):
            return raw[10 : len(raw) - tail]
    out = io.BytesIO()
    schemaless_writer(out, contract("RawMarketEvent").parsed, dict(event))
    return out.getvalue()


@cache
def _compiled() -> Callable[[str, bytes], str | None]:
    """The compiled v2 fold (native/, `BufferProjector.digest_v2`): the same digest where the
    event's bytes can be sliced, found in one pass instead of by the tail's lengths below; None
    where they cannot (then `event_avro` decides). Without the extension: never."""
    try:
        from regime_fleet_native import BufferProjector
    except ImportError:
        return lambda previous, raw: None
    digest: Callable[[str, bytes], str | None] = BufferProjector(
        single_object_header("RawInputBufferRecord")
    ).digest_v2
    return digest


def _tail_starts(buffered: Mapping[str, Any], raw: bytes, at: int) -> bool:
    """Whether the first field after `event` is where the lengths say (a cheap check that the
    tail was written canonically; otherwise v2 encodes the event instead of slicing)."""
    fields = _tail_fields()
    if not fields or fields[0][1] != "string":
        return True
    text = str(buffered[fields[0][0]]).encode()
    expected = _zigzag(len(text)) + text
    return raw[at : at + len(expected)] == expected


def _zigzag(n: int) -> bytes:
    """A non-negative Avro int or long as written (zig-zag, then 7 bits a byte, low first)."""
    z, out = n << 1, bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _varint_length(n: int) -> int:
    """Bytes of a zig-zag varint (Avro int and long): 7 bits a byte."""
    return ((((n << 1) ^ (n >> 63)).bit_length() + 6) // 7) or 1


def _string_length(s: str) -> int:
    data = len(s) if s.isascii() else len(s.encode())
    return _varint_length(data) + data


FIXED = {"double": 8, "float": 4, "boolean": 1}
VARINT = ("int", "long")


@cache
def _tail_fields() -> tuple[tuple[str, str], ...] | None:
    """The buffer record's fields after `event` and their types (None: a type whose length is
    not computed here, so v2 encodes the event instead of slicing)."""
    fields = []
    for f in contract("RawInputBufferRecord").schema["fields"][1:]:
        kind = f["type"] if isinstance(f["type"], str) else f["type"].get("type")
        if kind != "string" and kind not in VARINT and kind not in FIXED:
            return None
        fields.append((f["name"], kind))
    return tuple(fields)


def _tail_length(buffered: Mapping[str, Any]) -> int | None:
    """How many bytes the fields after `event` take (ingest writes them: canonical encoding)."""
    fields = _tail_fields()
    if fields is None:
        return None
    total = 0
    try:
        for name, kind in fields:
            value = buffered[name]
            if kind == "string":
                total += _string_length(value)
            elif kind in VARINT:
                total += _varint_length(value)
            else:
                total += FIXED[kind]
    except (KeyError, TypeError, AttributeError, ValueError):  # ValueError: unencodable text
        return None
    return total
