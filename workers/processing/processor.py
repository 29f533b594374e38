"""The processor protocol, and what the edges lend a core: direct topic reads and metrics.

A core is built once from settings and `Edges`; the runtime or the driver calls its hooks.
It never calls Kafka, never commits, never reads a clock: `now_ms` comes in as an argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workers.processing.records import Output, Record
from workers.state import Codec, StateStore


class Metrics(Protocol):
    """Named after docs/metrics.md without the `regime_fleet_` prefix; `worker` is implied."""

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...
    def set(self, name: str, value: float, **labels: str) -> None:
        """A gauge's value."""
        ...

    def timer(self, name: str, **labels: str) -> contextlib.AbstractContextManager[None]: ...


class _NoMetrics:
    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        pass

    def observe(self, name: str, value: float, **labels: str) -> None:
        pass

    def set(self, name: str, value: float, **labels: str) -> None:
        pass

    @contextlib.contextmanager
    def timer(self, name: str, **labels: str) -> Iterator[None]:
        yield


NO_METRICS: Metrics = _NoMetrics()


class ReadError(Exception):
    """A direct read that failed for good: `code` says why (INPUT_DELETED, NO_SUCH_RECORD,
    UNDECODABLE, READ_FAILED), `attempts` how often it was tried."""

    def __init__(self, code: str, message: str, attempts: int = 1) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.attempts = code, message, attempts


class Unavailable(Exception):
    """A read (or anything a core depends on) is unavailable right now, not wrong: the runtime
    aborts the checkpoint and retries the record later instead of failing it for good."""


class Reads(Protocol):
    """Direct reads of the topics a worker declares under `reads` in the topology."""

    def get(self, topic: str, partition: int, offset: int) -> Mapping[str, Any]:
        """The decoded record, ReadError when it can never be read, Unavailable for now."""
        ...

    def tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        """The decoded values of the last `count` records (undecodable ones are skipped)."""
        ...


class _NoReads:
    def get(self, topic: str, partition: int, offset: int) -> Mapping[str, Any]:
        raise ReadError("READ_FAILED", f"no reads were given to read {topic}[{partition}]@{offset}")

    def tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        return []


# (schema, raw bytes of the embedded record, the other fields) -> the encoded wrapper, or None
Splice = Callable[[str, bytes, dict[str, Any]], bytes | None]


@dataclass(frozen=True)
class Edges:
    reads: Reads = field(default_factory=_NoReads)
    metrics: Metrics = NO_METRICS
    splice: Splice | None = None  # zero-copy wrapping of already-encoded records (live only)


class Processor(Protocol):
    """A worker's pure core.

    name: the worker's name in topology/fleet.yaml.
    stores: store name -> codec; each store has a changelog declared in the topology.
    punctuate_interval_ms: how often `punctuate` runs per partition (0: never).
    """

    name: str
    stores: Mapping[str, Codec]
    punctuate_interval_ms: int

    def assigned(self, partitions: Sequence[int]) -> None:
        """Partitions (re)assigned, or rewound after an abort: reset what depends on position."""
        ...

    def look_ahead(self, records: Sequence[Record], views: Callable[[int], Mapping[str, StateStore]]) -> None:
        """A batch about to be processed one record at a time: work that is cheaper for many
        records at once can be done here (the enricher scores its signals in one call). It
        reads, never writes, and must not change what `process` returns for any record."""
        ...

    def process(self, record: Record, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]: ...

    def punctuate(self, partition: int, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]: ...

    def timed_out(self, record: Record, elapsed_ms: int) -> list[Output] | None:
        """Outputs for a unit of work that overran its timeout (None: dead-letter the record)."""
        ...


class ProcessorBase:
    """No-op hooks, for cores that need only `process`."""

    name: str = ""
    stores: Mapping[str, Codec] = {}
    punctuate_interval_ms: int = 0

    def assigned(self, partitions: Sequence[int]) -> None:
        pass

    def look_ahead(self, records: Sequence[Record], views: Callable[[int], Mapping[str, StateStore]]) -> None:
        pass

    def punctuate(self, partition: int, stores: Mapping[str, StateStore], now_ms: int) -> list[Output]:
        return []

    def timed_out(self, record: Record, elapsed_ms: int) -> list[Output] | None:
        return None
