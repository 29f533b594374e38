"""What flows between the runtime (or the driver) and a pure processor: Record in, Output out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Header names of a dead-lettered record, one name per concept everywhere (docs/contracts.md).
ERROR_CODE = "error_code"
ERROR_MESSAGE = "error_message"
RawHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Record:
    """One consumed record, decoded. `topic` is the logical (unprefixed) topic name.

    `raw`, `raw_key` and `raw_headers` are the bytes as they were on the wire: a dead letter
    carries them unchanged, whatever they contain.
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    value: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes = b""
    timestamp_ms: int = 0
    raw_key: bytes | None = None
    raw_headers: RawHeaders = ()


@dataclass(frozen=True)
class Output:
    """One record to produce. A mapping value is Avro-encoded with the topic's contract; bytes
    go as they are. `partition` pins the record to a partition (co-partitioned writes);
    otherwise the key decides. Keys and header values may be bytes (dead letters keep them)."""

    topic: str
    key: str | bytes | None
    value: Mapping[str, Any] | bytes
    headers: Mapping[str, str | bytes] = field(default_factory=dict)
    partition: int | None = None

    def header_pairs(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode() if isinstance(v, str) else v) for k, v in self.headers.items()]


def dead_letter(record: Record, topic: str, code: str, message: str) -> Output:
    """The original bytes (value, key and headers), plus why and where from."""
    headers: dict[str, str | bytes] = (
        {k: v or b"" for k, v in record.raw_headers} if record.raw_headers else dict(record.headers)
    )
    headers.update(
        {
            ERROR_CODE: code,
            ERROR_MESSAGE: message[:1000],
            "source_topic": record.topic,
            "source_partition": str(record.partition),
            "source_offset": str(record.offset),
        }
    )
    key = record.raw_key if record.raw_key is not None else record.key
    return Output(topic=topic, key=key, value=record.raw, headers=headers, partition=record.partition)


def header_map(headers: RawHeaders | None) -> dict[str, str]:
    """Headers as text, for processors and logs (the raw bytes stay on the Record)."""
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers or []}
