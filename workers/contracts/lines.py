"""One JSON line in the canonical form as the record `produce` sends: validated, encoded, keyed
by its symbol. Pure: the CLI, the api's admissions and the fuzz tests share this one check."""

from __future__ import annotations

import json
from dataclasses import dataclass

from workers.contracts.errors import ContractError
from workers.contracts.serde import Serde
from workers.contracts.validation import check_raw_event


@dataclass(frozen=True)
class EncodedLine:
    """The record of one line: value bytes, key (None: no symbol) and headers."""

    data: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]


def encode_line(
    line: str, schema: str, serde: Serde, *, min_ts_ms: int, max_ts_ms: int, topic: str = ""
) -> EncodedLine:
    """One JSON line as the record `produce` sends; a ContractError saying why it cannot be."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser
        raise ContractError(f"not a JSON line: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(value, dict):
        raise ContractError("a line must be a JSON object")
    data = serde.encode(schema, value, topic=topic, check=True)
    if schema == "RawMarketEvent":
        check_raw_event(value, min_ts_ms=min_ts_ms, max_ts_ms=max_ts_ms)
    signal = value.get("signal")
    key = value.get("symbol") or (signal.get("symbol") if isinstance(signal, dict) else None) or ""
    headers = [("schema", schema.encode())]
    try:
        if "kind" in value:
            headers.append(("event_type", str(value["kind"]).encode()))
        return EncodedLine(data, str(key).encode() or None, headers)
    except UnicodeEncodeError as exc:  # a lone surrogate escaped in a field the schema does not hold
        raise ContractError(f"key or event_type is not UTF-8: {exc}") from exc
