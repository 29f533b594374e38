"""A topology-driven, in-memory driver for the fleet's cores (Kafka Streams' TopologyTestDriver
in spirit): give it topology/fleet.yaml, the processors and input records; it routes every
output to each worker whose inputs include that topic, assigns offsets per partition, keeps
one in-memory store per (worker, store, partition), answers direct reads from what the topics
received, and records everything each topic received.

It is how replays, the bench and the tests' reference model run the fleet: adding a worker
to fleet.yaml (with a `create` factory in its processor module) adds it here too.

Like a live worker, the driver processes one record at a time per worker and commits its
stores after each record; a processor that raises has the record dead-lettered
(PROCESSOR_ERROR) to its topology dead-letter topic. Records are processed in the order they
were produced (a FIFO across topics), which keeps every topic partition's order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.config import FleetSettings
from workers.processing.memory import MemoryStore
from workers.processing.processor import Processor, ReadError, Services
from workers.processing.records import Output, Record, dead_letter
from workers.processing.registry import create_processor
from workers.processing.state import StoreView
from workers.topology import Topology


@dataclass(frozen=True)
class Logged:
    """One record a topic received in the driver."""

    topic: str
    partition: int
    offset: int
    key: str | bytes | None
    value: Mapping[str, Any] | bytes
    headers: Mapping[str, str | bytes] = field(default_factory=dict)
    timestamp_ms: int = 0


class Driver:
    def __init__(
        self,
        topology: Topology,
        processors: Mapping[str, Processor] | None = None,
        *,
        clock: Callable[[], int] = lambda: 0,
    ) -> None:
        self.topology = topology
        self.processors: dict[str, Processor] = dict(processors or {})
        self.clock = clock
        self.logs: dict[str, dict[int, dict[int, Logged]]] = {}
        self._received: dict[str, list[Logged]] = {}
        self._stores: dict[tuple[str, str, int], MemoryStore] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._queue: deque[Logged] = deque()
        self._next: dict[tuple[str, int], int] = {}  # the next offset of each topic partition

    @classmethod
    def for_fleet(
        cls,
        settings: FleetSettings,
        topology: Topology,
        workers: Iterable[str] | None = None,
        *,
        clock: Callable[[], int] = lambda: 0,
    ) -> Driver:
        """The named workers' cores (default: every worker), reading through this driver."""
        driver = cls(topology, clock=clock)
        services = Services(reads=driver)
        for name in workers if workers is not None else topology.order():
            driver.processors[name] = create_processor(name, settings, services)
        return driver

    # -- input ---------------------------------------------------------------------------

    def feed(
        self,
        topic: str,
        key: str | None,
        value: Mapping[str, Any],
        *,
        partition: int,
        offset: int | None = None,
        timestamp_ms: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One input record (at its original offset, if given), then everything it causes."""
        self._queue.append(self._log(topic, partition, key, value, dict(headers or {}), offset, timestamp_ms))
        while self._queue:
            self._route(self._queue.popleft())

    def preload(
        self, topic: str, partition: int, offset: int, key: str | None, value: Mapping[str, Any]
    ) -> None:
        """A record that is only there to be read directly (nothing consumes it now)."""
        self._log(topic, partition, key, value, {}, offset, 0)

    # -- what came out -------------------------------------------------------------------

    def received(self, topic: str) -> Sequence[Logged]:
        """Everything the topic received, in the order it was produced (a live view: it grows)."""
        return self._received.setdefault(topic, [])

    def store(self, worker: str, store: str, partition: int) -> MemoryStore:
        key = (worker, store, partition)
        if key not in self._stores:
            self._stores[key] = MemoryStore(self.processors[worker].stores[store])
        return self._stores[key]

    # -- processing.Reads ----------------------------------------------------------------

    def get(self, topic: str, partition: int, offset: int) -> Mapping[str, Any]:
        logged = self.logs.get(topic, {}).get(partition, {}).get(offset)
        if logged is None or not isinstance(logged.value, Mapping):
            raise ReadError("NO_SUCH_RECORD", f"{topic}[{partition}]@{offset} is not a data record")
        return logged.value

    def tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        log = self.logs.get(topic, {}).get(partition, {})
        values = [log[o].value for o in sorted(log)[-count:]] if count > 0 else []
        return [v for v in values if isinstance(v, Mapping)]

    # -- routing -------------------------------------------------------------------------

    def _log(
        self,
        topic: str,
        partition: int,
        key: str | bytes | None,
        value: Mapping[str, Any] | bytes,
        headers: Mapping[str, str | bytes],
        offset: int | None,
        timestamp_ms: int,
    ) -> Logged:
        log = self.logs.setdefault(topic, {}).setdefault(partition, {})
        if offset is None:
            offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = max(self._next.get((topic, partition), 0), offset + 1)
        logged = Logged(topic, partition, offset, key, value, headers, timestamp_ms)
        log[offset] = logged
        self._received.setdefault(topic, []).append(logged)
        return logged

    def _route(self, logged: Logged) -> None:
        if not isinstance(logged.value, Mapping):
            return  # dead letters and other raw bytes end where they land
        for name, processor in self.processors.items():
            if self.topology.worker(name).consumes(logged.topic):
                self._process(name, processor, logged)

    def _process(self, name: str, processor: Processor, logged: Logged) -> None:
        partition = logged.partition
        if (name, partition) not in self._assigned:
            self._assigned.add((name, partition))
            processor.assigned([partition])
        key = logged.key.decode("utf-8", "replace") if isinstance(logged.key, bytes) else logged.key
        text_headers = {
            k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in logged.headers.items()
        }
        assert isinstance(logged.value, Mapping)
        record = Record(
            logged.topic,
            partition,
            logged.offset,
            key,
            logged.value,
            text_headers,
            timestamp_ms=logged.timestamp_ms,
        )
        views: dict[str, StoreView] = {s: self.store(name, s, partition).view() for s in processor.stores}
        try:
            outputs = processor.process(record, views, self.clock())
        except Exception as exc:  # as the runtime does: the record is dead-lettered, the rest goes on
            for view in views.values():
                view.discard()
            spec = self.topology.worker(name)
            outputs = [
                dead_letter(record, spec.dead_letter, "PROCESSOR_ERROR", f"{type(exc).__name__}: {exc}")
            ]
        for store, view in views.items():
            self.store(name, store, partition).commit(view)
        for out in outputs:
            self._queue.append(self._emit(out, partition))

    def _emit(self, out: Output, partition: int) -> Logged:
        # Every output of the fleet is pinned or co-partitioned with its input.
        target = out.partition if out.partition is not None else partition
        return self._log(out.topic, target, out.key, out.value, out.headers, None, 0)
