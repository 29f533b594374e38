"""Field-level comparison of published and replayed events (authoritative fields only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.contracts import Serde
from workers.contracts.identity import NON_AUTHORITATIVE_FIELDS
from workers.contracts.serde import SINGLE_OBJECT_MAGIC
from workers.runtime.reader import Stored


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def diff(
    published: Mapping[str, Any], replayed: Mapping[str, Any], ignore: frozenset[str] = frozenset()
) -> dict[str, list[Any]]:
    """path -> [published, replayed] for every authoritative field that differs."""
    skip = NON_AUTHORITATIVE_FIELDS | ignore
    if _authoritative(published, skip) == _authoritative(replayed, skip):
        return {}  # the usual case, compared in C; equal objects flatten to equal paths
    a = {k: v for k, v in flatten(published).items() if k.split(".")[0] not in skip and k not in skip}
    b = {k: v for k, v in flatten(replayed).items() if k.split(".")[0] not in skip and k not in skip}
    return {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _authoritative(value: Mapping[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    """`value` without the skipped paths (top-level names, or one level deeper as `a.b`)."""
    out = {k: v for k, v in value.items() if k not in skip}
    for path in skip:
        head, _, tail = path.partition(".")
        if tail and isinstance(out.get(head), Mapping):
            out[head] = {k: v for k, v in out[head].items() if k != tail}
    return out


def event_ref(event: Mapping[str, Any]) -> dict[str, Any]:
    """What names an event in a report."""
    return {k: event[k] for k in ("run_id", "event_type", "symbol", "engine_timestamp_ms")}


def single_object(serde: Serde, schema: str, stored: Stored) -> bytes:
    """A stored record's value as single-object Avro, the form a replay encodes: its own bytes,
    re-encoded only when the fleet framed it for a schema registry."""
    return stored.raw if stored.raw[:2] == SINGLE_OBJECT_MAGIC else serde.encode(schema, stored.value)
