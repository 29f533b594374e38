"""Field-level comparison of published and replayed events (authoritative fields only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.contracts.identity import NON_AUTHORITATIVE_FIELDS


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
    a = {k: v for k, v in flatten(published).items() if k.split(".")[0] not in skip and k not in skip}
    b = {k: v for k, v in flatten(replayed).items() if k.split(".")[0] not in skip and k not in skip}
    return {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def event_ref(event: Mapping[str, Any]) -> dict[str, Any]:
    """What names an event in a report."""
    return {k: event[k] for k in ("run_id", "event_type", "symbol", "engine_timestamp_ms")}
