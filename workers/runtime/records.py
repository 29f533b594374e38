"""What flows between the runtime and a pure processor: Record in, Output out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workers.state.store import StoreView


@dataclass(frozen=True)
class Record:
    """One consumed record, decoded. `topic` is the logical (unprefixed) topic name."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: Mapping[str, Any]
    headers: Mapping[str, str]
    raw: bytes = b""
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Output:
    """One record to produce. A dict value is Avro-encoded with the topic's contract; bytes go as is.

    `partition` pins the record to a partition (co-partitioned writes); otherwise the key decides.
    """

    topic: str
    key: str
    value: Mapping[str, Any] | bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int | None = None


class Processor(Protocol):
    """A worker's pure core. No Kafka, no wall clock: `now_ms` and stores come in as arguments."""

    name: str
    stores: tuple[str, ...]

    def process(self, record: Record, stores: Mapping[str, StoreView], now_ms: int) -> list[Output]: ...


def dead_letter(record: Record, topic: str, code: str, message: str) -> Output:
    """The original bytes and headers, plus why and where from, for a dead-letter topic."""
    headers = dict(record.headers)
    headers.update(
        {
            "error_code": code,
            "error_message": message[:1000],
            "source_topic": record.topic,
            "source_partition": str(record.partition),
            "source_offset": str(record.offset),
        }
    )
    return Output(
        topic=topic,
        key=record.key or "",
        value=record.raw,
        headers=headers,
        partition=record.partition,
    )


def header_map(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers or []}
