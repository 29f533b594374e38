"""Opening the partitions a worker owns, outside the rebalance callback.

The assign callback only assigns and pauses. The loop then opens each pending partition: reads
its committed offset (bounded; while a dead predecessor's transaction still holds the group's
offsets the read fails and the worker stays not ready, saying so, and retries), restores its
stores, seeks to the committed offset (at-least-once: past what its store already holds),
tells the core (`assigned`) and resumes it. The same path re-opens every partition after an
aborted checkpoint, so a rewind is an ordinary re-open.
"""

from __future__ import annotations

import contextlib

from confluent_kafka import Consumer, KafkaException, TopicPartition

from workers import clients
from workers.processing import Processor, StoreCorruption, StoreError, Unavailable
from workers.runtime.checkpoint import StuckCall, bounded
from workers.runtime.context import RuntimeContext
from workers.runtime.pauses import PauseControl
from workers.runtime.rebuild import rebuild, unrebuildable
from workers.runtime.stores import AssignedStores
from workers.state.changelog import CorruptChangelog


class Assignment:
    def __init__(
        self, ctx: RuntimeContext, processor: Processor, stores: AssignedStores, pauses: PauseControl
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.processor = processor
        self.stores = stores
        self.pauses = pauses
        self.readiness = ctx.readiness
        self.log = ctx.log
        self.eos = ctx.eos
        self.committed: dict[tuple[str, int], int] = {}  # the group's offsets, as last known

    def assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The assign callback's part: assign, pause, and leave the opening to the loop. KIP-848's
        consumer protocol hands over only what was added (incremental)."""
        if self.settings.runtime.group_protocol == "consumer":
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        consumer.pause(partitions)
        self.pauses.opening |= {tp.partition for tp in partitions}

    def reopen(self, consumer: Consumer) -> None:
        assigned = consumer.assignment()
        consumer.pause(assigned)
        self.pauses.opening |= {tp.partition for tp in assigned}

    def open_pending(self, consumer: Consumer) -> None:
        """Open the partitions waiting in `pauses.opening`: committed offsets, stores, position."""
        opening = self.pauses.opening - set(self.pauses.paused_until)
        if not opening:
            return
        tps = [tp for tp in consumer.assignment() if tp.partition in opening]
        timeout = min(5.0, self.settings.runtime.kafka_call_timeout_s)
        try:
            committed = bounded(lambda: consumer.committed(tps, timeout=timeout), timeout, "committed")
            self._restore(consumer, committed)
            self.processor.assigned(sorted(opening))
        except (KafkaException, StuckCall, Unavailable) as exc:
            reason = f"opening partitions {sorted(opening)}: {exc}"
            if "UNSTABLE_OFFSET_COMMIT" in str(exc) or isinstance(exc, StuckCall):
                reason += " (a predecessor's transaction is still open: it ends when fenced or timed out)"
            self.readiness.block("opening", reason)
            self.log.warning("partitions_not_open", reason=reason)
            return
        except StoreError as exc:
            if isinstance(exc, StoreCorruption):
                raise  # what a rebuild cannot heal (rebuild.RebuildImpossible): degraded, saying so
            self.readiness.block("opening", f"restoring stores: {exc}")
            self.log.warning("partitions_not_open", reason=f"restoring stores: {exc}")
            return
        self.readiness.unblock("opening")
        self.pauses.opening -= opening
        if not (self.pauses.gauge is not None and self.pauses.gauge.paused):
            consumer.resume([tp for tp in tps if tp.partition not in self.pauses.held()])
        self.log.info("partitions_open", partitions=sorted(opening))

    def _restore(self, consumer: Consumer, committed: list[TopicPartition]) -> None:
        """Restore stores and position each partition at its committed offset (at-least-once:
        past what its store already holds)."""
        reader = (
            Consumer(clients.reporting(clients.reader_config(self.settings), self.readiness.client_error))
            if self.stores.names
            else None
        )
        upto: dict[int, dict[str, int]] = {}  # partition -> input topic -> committed offset
        for tp in committed:
            upto.setdefault(tp.partition, {})[tp.topic] = tp.offset if tp.offset >= 0 else 0
        sources: dict[int, int | None] = {}  # each partition's stores are opened once
        try:
            for tp in committed:
                done = tp.offset if tp.offset >= 0 else 0
                self.committed[(tp.topic, tp.partition)] = done
                if reader is not None:
                    if tp.partition not in sources:
                        skip_from = done if self.eos and tp.offset >= 0 else None
                        sources[tp.partition] = self._open_stores(
                            tp.partition, reader, upto[tp.partition], skip_from
                        )
                    source = sources[tp.partition]
                    if not self.eos and source is not None and source + 1 > done:
                        done = source + 1  # at-least-once: the store already holds this work
                with contextlib.suppress(KafkaException):  # not fetching yet: it starts there anyway
                    consumer.seek(TopicPartition(tp.topic, tp.partition, done))
        finally:
            if reader is not None:
                reader.close()

    def _open_stores(
        self, partition: int, reader: Consumer, upto: dict[str, int], skip_from: int | None
    ) -> int | None:
        """Restore the partition's stores; rebuild them from the inputs when the changelog holds
        a corrupt record, or holds nothing although input was processed (a lost state dir and
        a deleted or recreated changelog)."""
        try:
            source = self.stores.open(partition, reader, skip_from=skip_from)
            if partition not in self.stores.restored_empty or not any(upto.values()):
                return source
            cause = f"no changelog record for stores that processed input up to {upto}"
            refused = unrebuildable(self.processor, self.ctx.spec.inputs)
            if refused is not None:  # weak evidence (its stores may be empty by right): say so, go on
                self.log.warning("store_empty_unverified", partition=partition, cause=cause, why=refused)
                return source
        except CorruptChangelog as exc:
            cause = str(exc)
        summary = rebuild(
            self.ctx, self.processor, self.stores, partition, reader, upto, skip_from=skip_from, cause=cause
        )
        self.readiness.error(summary)
        return self.stores.source(partition)

    def release(self, partitions: set[int]) -> None:
        """Revoked or lost: close their stores (freeing the RocksDB LOCK) and forget them."""
        self.stores.release(partitions)
        self.pauses.forget(partitions)
        for key in [k for k in self.committed if k[1] in partitions]:
            del self.committed[key]
