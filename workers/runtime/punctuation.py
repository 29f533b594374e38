"""Punctuation: a core's `punctuate` hook, once per interval bucket (`now_ms // interval`) for
each open partition, after the batch, inside the open checkpoint (the Driver does the same)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from workers.processing import Processor
from workers.runtime.checkpoint import Checkpoint
from workers.runtime.stores import AssignedStores


class Punctuator:
    def __init__(
        self, processor: Processor, stores: AssignedStores, checkpoint: Checkpoint, clock: Callable[[], float]
    ) -> None:
        self.processor = processor
        self.stores = stores
        self.checkpoint = checkpoint
        self.clock = clock
        self._done: dict[int, int] = {}  # partition -> the last bucket punctuated

    @property
    def wanted(self) -> bool:
        return self.processor.punctuate_interval_ms > 0

    def run(self, partitions: Iterable[int]) -> None:
        interval = self.processor.punctuate_interval_ms
        if interval <= 0:
            return
        now_ms = int(self.clock() * 1000)
        for partition in sorted(partitions):
            if self._done.get(partition) == now_ms // interval:
                continue
            self._done[partition] = now_ms // interval
            outputs = self.processor.punctuate(partition, self.stores.views_for(partition), now_ms)
            if outputs:
                self.checkpoint.emit(outputs)

    def reset(self) -> None:
        """After a re-open the rewound partitions punctuate again."""
        self._done.clear()
