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

Time is the driver's, never the machine's. Records carry their own event time
(`timestamp_ms`); wall time (`now_ms`, what `process` and `punctuate` get, and the timestamp
of what the workers produce) starts where the test says and moves only when it is told
(`advance_wall_clock`, `set_wall_clock`, `feed(now_ms=...)`). Each feed and each move of the
clock is one poll of the live loop: after its records, every punctuating worker runs
`punctuate` for each partition it was assigned, once per interval bucket
(`now_ms // punctuate_interval_ms`), as workers/runtime does. A worker is assigned a
partition by its first record there, or by `assign` (as a live worker is when it starts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.config import FleetSettings
from workers.processing.processor import Edges, Processor, ReadError
from workers.processing.records import Output, Record, dead_letter
from workers.processing.registry import create_processor
from workers.state import StoreView
from workers.state.memory import MemoryStore
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
        self, topology: Topology, processors: Mapping[str, Processor] | None = None, *, now_ms: int = 0
    ) -> None:
        self.topology = topology
        self.processors: dict[str, Processor] = dict(processors or {})
        self.logs: dict[str, dict[int, dict[int, Logged]]] = {}
        self._now_ms = now_ms
        self._received: dict[str, list[Logged]] = {}
        self._stores: dict[tuple[str, str, int], MemoryStore] = {}
        self._assigned: dict[str, set[int]] = {}
        self._punctuated: dict[tuple[str, int], int] = {}  # (worker, partition) -> last bucket
        self._queue: deque[Logged] = deque()
        self._next: dict[tuple[str, int], int] = {}  # the next offset of each topic partition
        self._fed: tuple[Logged | None, bytes] = (None, b"")  # the record being fed, and its bytes

    @classmethod
    def for_fleet(
        cls,
        settings: FleetSettings,
        topology: Topology,
        workers: Iterable[str] | None = None,
        *,
        now_ms: int = 0,
    ) -> Driver:
        """The named workers' cores (default: every worker), reading through this driver."""
        driver = cls(topology, now_ms=now_ms)
        edges = Edges(reads=driver)
        for name in workers if workers is not None else topology.order():
            driver.processors[name] = create_processor(name, settings, edges)
        return driver

    # -- time ----------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The wall time the workers see, in epoch milliseconds."""
        return self._now_ms

    def advance_wall_clock(self, ms: int) -> None:
        """Move wall time `ms` forward, then poll: the punctuations now due run."""
        self.set_wall_clock(self._now_ms + ms)

    def set_wall_clock(self, now_ms: int) -> None:
        """Move wall time to `now_ms` (a recorded clock's next reading), then poll."""
        self._move(now_ms)
        self._settle()

    def _move(self, now_ms: int) -> None:
        if now_ms < self._now_ms:
            raise ValueError(f"wall time goes forward only: {now_ms} < now {self._now_ms}")
        self._now_ms = now_ms

    def assign(self, worker: str, partitions: Iterable[int]) -> None:
        """Give `worker` these partitions (as a rebalance does), then poll."""
        new = sorted(set(partitions) - self._assigned.setdefault(worker, set()))
        if new:
            self._assigned[worker].update(new)
            self.processors[worker].assigned(new)
        self._settle()

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
        now_ms: int | None = None,
        raw: bytes = b"",
    ) -> None:
        """One input record (at its original offset, if given, with its own event time), then
        everything it causes, then the punctuations due: one poll. `now_ms`: the wall time of
        that poll (the clock moves there first), else the current one. `raw`: the value as
        stored, which reaches the cores as `Record.raw` (the scheduler hashes buffered events
        from it, as it does live)."""
        if now_ms is not None:
            self._move(now_ms)
        logged = self._log(topic, partition, key, value, dict(headers or {}), offset, timestamp_ms)
        self._queue.append(logged)
        self._fed = (logged, raw)
        try:
            self._settle()
        finally:
            self._fed = (None, b"")

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

    def _settle(self) -> None:
        """Route everything queued, then punctuate what is due, until nothing is left: a
        punctuation's outputs are routed, and may assign partitions that are due in turn."""
        while True:
            while self._queue:
                self._route(self._queue.popleft())
            if not self._punctuate():
                return

    def _route(self, logged: Logged) -> None:
        if not isinstance(logged.value, Mapping):
            return  # dead letters and other raw bytes end where they land
        for name, processor in self.processors.items():
            if self.topology.worker(name).consumes(logged.topic):
                self._process(name, processor, logged)

    def _process(self, name: str, processor: Processor, logged: Logged) -> None:
        partition = logged.partition
        assigned = self._assigned.setdefault(name, set())
        if partition not in assigned:
            assigned.add(partition)
            processor.assigned([partition])
        record = self._record(logged, self._fed[1] if logged is self._fed[0] else b"")
        views = self._views(name, partition)
        self._begin(views)
        try:
            outputs = processor.process(record, views, self._now_ms)
        except Exception as exc:  # as the runtime does: the record is dead-lettered, the rest goes on
            self._undo(views)
            spec = self.topology.worker(name)
            outputs = [
                dead_letter(record, spec.dead_letter, "PROCESSOR_ERROR", f"{type(exc).__name__}: {exc}")
            ]
        self._commit(name, partition, views, outputs)

    def _record(self, logged: Logged, raw: bytes = b"") -> Record:
        """The Record a core gets for a logged record (key and headers as text)."""
        key = logged.key.decode("utf-8", "replace") if isinstance(logged.key, bytes) else logged.key
        headers = logged.headers
        if any(isinstance(v, bytes) for v in headers.values()):
            headers = {
                k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in headers.items()
            }
        assert isinstance(logged.value, Mapping)
        return Record(
            logged.topic,
            logged.partition,
            logged.offset,
            key,
            logged.value,
            headers,  # type: ignore[arg-type]  # text only, made so above
            raw=raw,
            timestamp_ms=logged.timestamp_ms,
        )

    def _begin(self, views: Mapping[str, StoreView]) -> None:
        """Before a record is processed (the test driver's views are fresh per record)."""

    def _undo(self, views: Mapping[str, StoreView]) -> None:
        """A record failed: its store writes go."""
        for view in views.values():
            view.discard()

    def _punctuate(self) -> bool:
        """Each punctuating worker's partitions whose interval bucket has not run yet (as the
        live loop does after a batch); True when any ran."""
        ran = False
        for name, processor in self.processors.items():
            interval = processor.punctuate_interval_ms
            if interval <= 0:
                continue
            bucket = self._now_ms // interval
            for partition in sorted(self._assigned.get(name, ())):
                if self._punctuated.get((name, partition)) == bucket:
                    continue
                self._punctuated[(name, partition)] = bucket
                ran = True
                views = self._views(name, partition)
                self._commit(name, partition, views, processor.punctuate(partition, views, self._now_ms))
        return ran

    def _views(self, name: str, partition: int) -> dict[str, StoreView]:
        return {s: self.store(name, s, partition).view() for s in self.processors[name].stores}

    def _commit(
        self, name: str, partition: int, views: Mapping[str, StoreView], outputs: list[Output]
    ) -> None:
        for store, view in views.items():
            self.store(name, store, partition).commit(view)
        for out in outputs:
            self._queue.append(self._emit(out, partition))

    def _emit(self, out: Output, partition: int) -> Logged:
        # Every output of the fleet is pinned or co-partitioned with its input; stamped with
        # the wall time it was produced at, as a producer stamps it.
        target = out.partition if out.partition is not None else partition
        return self._log(out.topic, target, out.key, out.value, out.headers, None, self._now_ms)
