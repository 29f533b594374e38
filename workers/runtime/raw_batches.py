"""The loop for a core that offers the batch hook (workers/processing/raw_batch.py): it takes
runs of consumed records as bytes; each record it leaves is decoded and processed the usual
way, in between, so the order per partition and the outputs stay those of `process`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from confluent_kafka import Message

from workers.processing.raw_batch import Encoded, RawBatch
from workers.processing.records import Output
from workers.runtime.checkpoint import PRODUCER_MAX_BYTES, Checkpoint
from workers.runtime.context import RuntimeContext
from workers.state import StoreView

ViewsFor = Callable[[int], Mapping[str, StoreView]]  # a partition's store views (the runtime's)

# Handles one message the usual way (decode, process, emit, advance); False: aborted.
OneByOne = Callable[[Message], bool]


class RawBatches:
    def __init__(self, ctx: RuntimeContext, hook: RawBatch, checkpoint: Checkpoint, stores: ViewsFor) -> None:
        self.ctx, self.hook, self.checkpoint, self.stores = ctx, hook, checkpoint, stores
        self.failed = False

    def handle(self, msgs: list[Message], now_ms: int, one_by_one: OneByOne) -> bool:
        """Process a batch in order; False once the checkpoint had to be aborted."""
        checkpoint = self.checkpoint
        # Each output the hook returns fits the smallest topic limit: no record is needed to
        # dead-letter one as OUTPUT_TOO_LARGE (the hook leaves such records to `process`).
        max_bytes = min(checkpoint.limits.values(), default=PRODUCER_MAX_BYTES)
        i, n = 0, len(msgs)
        while i < n:
            taken = self._take(msgs, i, now_ms, max_bytes)
            if taken:
                topic = msgs[i].topic() or ""
                self._emit([out for outs in taken for out in outs])
                ends: dict[int, int] = {}
                for msg in msgs[i : i + len(taken)]:
                    ends[msg.partition() or 0] = msg.offset() or 0
                for partition, offset in ends.items():
                    checkpoint.advance(topic, partition, offset + 1)
                logical = self.ctx.logical(topic)
                checkpoint.counter(self.ctx.metrics.consumed, logical).inc(len(taken))
                i += len(taken)
            if i < n:
                if not one_by_one(msgs[i]):
                    return False
                i += 1
        return True

    def _take(
        self, msgs: list[Message], i: int, now_ms: int, max_bytes: int
    ) -> list[Sequence[Encoded | Output]]:
        if self.failed or msgs[i].error() is not None:
            return []
        journaled: dict[int, Mapping[str, StoreView]] = {}

        def stores(partition: int) -> Mapping[str, StoreView]:
            views = journaled.get(partition)
            if views is None:  # the whole call is one journal: a hook that raises leaves nothing
                views = journaled[partition] = self.stores(partition)
                for view in views.values():
                    view.begin_record()
            return views

        try:
            return self.hook(msgs, i, self.ctx.logical(msgs[i].topic() or ""), now_ms, max_bytes, stores)
        except Exception as exc:  # a bug in the batch path: the per-record path still works
            for views in journaled.values():
                for view in views.values():
                    view.rollback_record()
            self.failed = True
            self.ctx.log.exception("raw_batch_failed", error=f"{type(exc).__name__}: {exc}")
            return []

    def _emit(self, outputs: list[Encoded | Output]) -> None:
        """In order: runs of encoded outputs as they are, the others encoded by the checkpoint."""
        encoded: list[Encoded] = []
        for out in outputs:
            if isinstance(out, Output):
                self.checkpoint.emit_encoded(encoded)
                encoded = []
                self.checkpoint.emit([out])
            else:
                encoded.append(out)
        self.checkpoint.emit_encoded(encoded)
