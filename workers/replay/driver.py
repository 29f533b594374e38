"""The in-memory driver as replays run it: stores checkpointed per batch of records, as a live
worker checkpoints them, instead of after every record.

The test driver commits each record's store changes through the store's codec (encode, then
decode) so that a test sees what a restart would see. Over a replay's thousands of records that
round trip was half the CPU (the enricher's market and VPIN state is re-encoded to JSON after
every buffered bar and trade). A live worker keeps a batch's changes as objects in its view and
encodes each changed key once per checkpoint; cores never mutate what they get, so the outputs
are the same whatever the batch boundaries (that is what makes exactly-once replays exact).
This driver does what the live loop does: one view per (worker, partition) that lives across
records, each record journaled so a failing record's writes are rolled back alone, and a
checkpoint through the codec every `batch` records and at `flush()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from workers.config import FleetSettings
from workers.processing.driver import Driver, Logged
from workers.processing.processor import Processor
from workers.processing.records import Output
from workers.state import StoreView
from workers.topology import Topology

BATCH = 500  # records per checkpoint: the live runtime's default batch size


class ReplayDriver(Driver):
    """A Driver whose store views live for `batch` records of a worker's partition."""

    def __init__(self, topology: Topology, *, batch: int = BATCH, now_ms: int = 0) -> None:
        super().__init__(topology, now_ms=now_ms)
        self.batch = batch
        self._open: dict[tuple[str, int], dict[str, StoreView]] = {}
        self._since: dict[tuple[str, int], int] = {}
        # topic -> (how many processors there were, the workers consuming it)
        self._consumers: dict[str, tuple[int, list[tuple[str, Processor]]]] = {}

    @classmethod
    def for_replay(
        cls,
        settings: FleetSettings,
        topology: Topology,
        workers: Iterable[str] | None = None,
        *,
        batch: int = BATCH,
    ) -> ReplayDriver:
        driver = cls.for_fleet(settings, topology, workers)
        assert isinstance(driver, ReplayDriver)
        driver.batch = batch
        return driver

    def flush(self) -> None:
        """Checkpoint every open view (before reading a store's committed data)."""
        for (name, partition), views in list(self._open.items()):
            self._checkpoint(name, partition, views)

    def _views(self, name: str, partition: int) -> dict[str, StoreView]:
        views = self._open.get((name, partition))
        if views is None:
            views = {s: self.store(name, s, partition).view() for s in self.processors[name].stores}
            self._open[(name, partition)] = views
        return views

    def _route(self, logged: Logged) -> None:
        if not isinstance(logged.value, Mapping):
            return  # dead letters and other raw bytes end where they land
        known, consumers = self._consumers.get(logged.topic, (-1, []))
        if known != len(self.processors):  # a processor added since: look again
            consumers = [
                (name, processor)
                for name, processor in self.processors.items()
                if self.topology.worker(name).consumes(logged.topic)
            ]
            self._consumers[logged.topic] = (len(self.processors), consumers)
        for name, processor in consumers:
            self._process(name, processor, logged)

    def _begin(self, views: Mapping[str, StoreView]) -> None:
        for view in views.values():
            view.begin_record()

    def _undo(self, views: Mapping[str, StoreView]) -> None:
        for view in views.values():
            view.rollback_record()

    def _commit(
        self, name: str, partition: int, views: Mapping[str, StoreView], outputs: list[Output]
    ) -> None:
        for out in outputs:
            self._queue.append(self._emit(out, partition))
        key = (name, partition)
        self._since[key] = self._since.get(key, 0) + 1
        if self._since[key] >= self.batch:
            self._checkpoint(name, partition, views)

    def _checkpoint(self, name: str, partition: int, views: Mapping[str, StoreView]) -> None:
        for store, view in views.items():
            self.store(name, store, partition).commit(view)
        self._since[(name, partition)] = 0
