"""The shared runtime's loop: consume a batch, run the pure processor, checkpoint, repeat;
and the rebalance callbacks. The process around it (signals, start, drain) is in process.py,
the checkpoint protocol in checkpoint.py, the opening of partitions in assignment.py, what
one failing record or produce leads to in handlers.py.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing import Processor, Record
from workers.processing.raw_batch import raw_batch_of
from workers.runtime.assignment import Assignment
from workers.runtime.checkpoint import Checkpoint, Failure, StuckCall
from workers.runtime.context import RuntimeContext
from workers.runtime.control import ControlReader
from workers.runtime.decoding import Decoder
from workers.runtime.faults import NO_FAULTS, Faults
from workers.runtime.handlers import Handled, resets_producer
from workers.runtime.heartbeat import Heartbeat
from workers.runtime.observability import WorkerMetrics
from workers.runtime.pauses import PauseControl
from workers.runtime.punctuation import Punctuator
from workers.runtime.raw_batches import RawBatches
from workers.runtime.reader import take
from workers.runtime.stores import AssignedStores
from workers.security.diagnose import diagnose
from workers.topology import Topology


class Worker:
    def __init__(
        self,
        settings: FleetSettings,
        topology: Topology,
        processor: Processor,
        *,
        metrics: WorkerMetrics | None = None,
        serde: Serde | None = None,
        clock: Callable[[], float] = time.time,
        on_close: Callable[[], None] = lambda: None,
        faults: Faults = NO_FAULTS,
    ) -> None:
        ctx = RuntimeContext.build(
            processor.name, settings, topology, serde=serde, metrics=metrics, faults=faults
        )
        self.ctx = ctx
        self.processor = processor
        self.clock = clock
        self.on_close = on_close
        self.consumer: Consumer | None = None
        self.stores = AssignedStores(settings, ctx.spec, processor, ctx.group, ctx.metrics, ctx.log)
        self.pauses = PauseControl(ctx)
        self.assignment = Assignment(ctx, processor, self.stores, self.pauses)
        # The slot names the transactional.id and group.instance.id; a pinned one (runtime.slot)
        # is taken by the process's start, which waits for it as a warm standby.
        self.slot: int | None = (
            None if settings.runtime.slot is not None else clients.slot(settings, processor.name)
        )
        self.checkpoint = Checkpoint(ctx, self.stores, self._producer)
        self.decoder = Decoder(ctx, processor)
        self.punctuator = Punctuator(processor, self.stores, self.checkpoint, clock)
        self.control = ControlReader(ctx, clock)  # operator commands (fleet.control)
        hook = raw_batch_of(processor)  # a core that takes many records as bytes at once
        self.raw_batches = hook and RawBatches(ctx, hook, self.checkpoint, self.stores.views_for)
        self.heartbeat = Heartbeat(ctx, self.control, clock)
        self._reconnect_due = 0.0
        self._consumer_failed = ""  # a fatal consumer error: the consumer is replaced

    def _producer(self) -> Producer:
        assert self.slot is not None, "a producer before the slot is held"
        settings, name = self.ctx.settings, self.processor.name
        txn_id = clients.transactional_id(settings, name, self.slot) if self.ctx.eos else None
        return Producer(clients.producer_config(settings, txn_id, self.ctx.readiness.client_error))

    # -- the loop ----------------------------------------------------------------------

    def poll_once(self) -> None:
        assert self.consumer is not None
        rt = self.ctx.settings.runtime
        status = self.ctx.status
        status.last_poll_monotonic = time.monotonic()
        if self.checkpoint.producer is None:
            self._reconnect()
        if self.checkpoint.producer is not None:
            self.assignment.open_pending(self.consumer)
        self.pauses.tick(self.consumer)
        self.control.tick(self.consumer, self.pauses)  # last before the fetch: its pauses hold
        self.heartbeat.tick()
        msgs = self._consume(rt.batch_size, rt.poll_timeout_ms / 1000)
        status.last_poll_monotonic = time.monotonic()
        self.ctx.readiness.tick()
        if msgs:
            started = time.perf_counter()
            if self.raw_batches:
                now_ms = int(self.clock() * 1000)
                self._guarded(functools.partial(self.raw_batches.handle, msgs, now_ms, self._one_by_one))
            else:
                decoded = [self.decoder.decode(msg) for msg in msgs]
                self._look_ahead([d for d in decoded if isinstance(d, Record)])
                self._guarded(functools.partial(self._handle_batch, msgs, decoded))
            self.ctx.metrics.batch_size.labels(self.ctx.name).observe(len(msgs))
            self.ctx.metrics.batch_seconds.labels(self.ctx.name).observe(time.perf_counter() - started)
        self._guarded(self._punctuate)
        if self._consumer_failed:
            self._replace_consumer()
        elif self.checkpoint.due(drained=not msgs):
            self.commit()

    def subscribe(self) -> None:
        """The worker's own consumer, in its group (static membership from its slot)."""
        ctx = self.ctx
        assert self.slot is not None, "a consumer before the slot is held"
        conf = clients.worker_consumer_config(ctx.settings, ctx.group, self.slot, ctx.spec.fetch_min_bytes)
        consumer = Consumer(clients.reporting(conf, ctx.readiness.client_error))
        consumer.subscribe(
            [ctx.settings.topic(t) for t in ctx.spec.inputs],
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_lost,
        )
        self.consumer = consumer

    def _replace_consumer(self) -> None:
        """A consumer failed fatally (e.g. a static member fenced after a coordinator moved):
        drop its partitions without committing, close it and join again with a new one."""
        assert self.consumer is not None
        reason, self._consumer_failed = self._consumer_failed, ""
        self.ctx.log.warning("consumer_replaced", error=reason)
        if self.checkpoint.txn is not None:
            self.checkpoint.abort(
                Failure(set(), self.ctx.spec.checkpoint_domain, f"consumer failed: {reason}")
            )
        old, self.consumer = self.consumer, None
        try:
            held = {tp.partition for tp in old.assignment()}
        except KafkaException:
            held = set()
        self.assignment.release(held | self.pauses.opening)
        self.ctx.status.assignment = []
        try:
            old.close()  # its callbacks see no consumer: nothing is committed
        except Exception as exc:
            self.ctx.log.warning("consumer_close_failed", error=str(exc))
        self.subscribe()

    def _consume(self, batch_size: int, poll_timeout_s: float) -> list[Message]:
        """What is fetched, up to a batch, at once; else wait for a first record, but never past
        the moment the open checkpoint is due, nor longer than `commit_idle_ms` with one open
        (then the input is drained: commit, do not wait out the interval)."""
        assert self.consumer is not None
        wait = min(poll_timeout_s, self.checkpoint.due_in(), self.checkpoint.idle_s())
        try:
            return take(self.consumer, batch_size, wait)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or not _fatal(error):
                raise
            self._consumer_failed = str(error)
            return []

    def connect(self) -> bool:
        """A producer that the broker accepts (fencing any predecessor); False: not yet, said why."""
        readiness = self.ctx.readiness
        try:
            self.checkpoint.connect()
        except (KafkaException, StuckCall) as exc:
            readiness.block("producer", f"connecting the producer: {exc}")
            self.ctx.log.warning("producer_not_ready", error=str(exc))
            readiness.refused_by(str(exc))
            return False
        readiness.unblock("producer")
        return True

    def _reconnect(self) -> None:
        """The producer was abandoned: pause everything until a new one has fenced it."""
        assert self.consumer is not None
        self.assignment.reopen(self.consumer)
        if time.monotonic() < self._reconnect_due:
            return
        self._reconnect_due = time.monotonic() + 2.0
        if self.connect():
            self.ctx.log.info("producer_reconnected")

    def _guarded(self, step: Callable[[], bool | None]) -> bool:
        """A produce that fails at once (a fenced or fatally failed producer, a queue that stays
        full) aborts the checkpoint like a failed commit: the worker reconnects and re-opens."""
        try:
            return step() is not False
        except (KafkaException, StuckCall) as exc:
            failure = Failure(
                set(self.stores.dirty()),
                self.ctx.spec.checkpoint_domain,
                str(exc),
                reset=resets_producer(exc),
            )
            self._failed(self.checkpoint.abort(failure))
            return False

    def _look_ahead(self, records: list[Record]) -> None:
        """Let the core prepare the batch (it must not change any outcome): never fatal."""
        try:
            self.processor.look_ahead(records, self.stores.views_for)
        except Exception as exc:
            self.ctx.log.warning("look_ahead_failed", error=f"{type(exc).__name__}: {exc}")

    def _one_by_one(self, msg: Message) -> bool:
        decoded = self.decoder.decode(msg)
        self._look_ahead([decoded] if isinstance(decoded, Record) else [])
        return self._handle_batch([msg], [decoded])

    def _handle_batch(self, msgs: list[Message], decoded: list[Record | DecodeError | None]) -> bool:
        """Process a batch in order; False (the rest is read again after the re-open) once the
        checkpoint had to be aborted."""
        consumed: Counter[str] = Counter()
        try:
            for msg, item in zip(msgs, decoded, strict=True):
                if item is not None:  # None: a consumer event, not a record
                    consumed[msg.topic()] += 1
                if not self._handle(msg, item):
                    return False
            return True
        finally:
            for topic, n in consumed.items():
                self.checkpoint.counter(self.ctx.metrics.consumed, self.ctx.logical(topic)).inc(n)

    def _handle(self, msg: Message, decoded: Record | DecodeError | None) -> bool:
        """Process one message; False when the checkpoint had to be aborted."""
        err = msg.error()
        if err is not None:
            return self._consumer_event(msg, err)
        record = decoded if isinstance(decoded, Record) else self.decoder.undecoded(msg)
        if isinstance(decoded, DecodeError):
            self._emit_handled(self.ctx.handlers.on_decode(record, decoded), record)
        elif not self._process(record):
            return False
        self.checkpoint.advance(msg.topic(), record.partition, record.offset + 1)
        return True

    def _process(self, record: Record) -> bool:
        views = self.stores.views_for(record.partition)
        for view in views.values():
            view.begin_record()
        handlers, log = self.ctx.handlers, self.ctx.log
        started = time.monotonic()
        try:
            outputs = self.processor.process(record, views, int(self.clock() * 1000))
        except Exception as exc:  # a bug or poison pill must not stop the partition
            handled = handlers.on_process_error(record, exc)
            if handled.retry is not None:
                log.warning(
                    "input_unavailable", topic=record.topic, partition=record.partition, error=str(exc)
                )
                self._failed(self.checkpoint.abort(Failure({record.partition}, handled.retry, str(exc))))
                return False
            for view in views.values():
                view.rollback_record()
            where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
            log.exception("processor_failed", symbol=record.key, **where)
            self._emit_handled(handled, record)
            return True
        elapsed_ms = int((time.monotonic() - started) * 1000)
        if handlers.overran(elapsed_ms):
            for view in views.values():
                view.rollback_record()
            log.warning("unit_timed_out", offset=record.offset, symbol=record.key, elapsed_ms=elapsed_ms)
            self._emit_handled(handlers.on_unit_timeout(record, elapsed_ms, self.processor.timed_out), record)
            return True
        self.checkpoint.emit(self.control.gate(outputs), record)
        return True

    def _emit_handled(self, handled: Handled, record: Record) -> None:
        self.checkpoint.emit(handled.outputs, None if handled.dead_letter_code else record)
        if handled.dead_letter_code:
            self.checkpoint.count_dead_letter(handled.dead_letter_code)

    def _consumer_event(self, msg: Message, err: KafkaError) -> bool:
        if err.code() == KafkaError._PARTITION_EOF:
            # Everything up to the end, transaction markers included, is processed: committing
            # that far makes an idle group's lag 0 (records not yet processed).
            key, end = (msg.topic(), msg.partition()), msg.offset()
            if msg.partition() not in self.pauses.opening and end > self.assignment.committed.get(key, -1):
                self.checkpoint.advance(msg.topic(), msg.partition(), end)
            return True
        self.ctx.readiness.consumer_error(err)
        if _fatal(err):
            self._consumer_failed = str(err)
            return False
        return True

    def _punctuate(self) -> None:
        # Asked first: the assignment is a round trip to librdkafka's thread (12 µs of CPU),
        # and only the scheduler in timer mode punctuates.
        if self.consumer is not None and self.punctuator.wanted:
            self.punctuator.run({tp.partition for tp in self.consumer.assignment()} - self.pauses.opening)

    # -- checkpoints and re-opening ----------------------------------------------------

    def commit(self) -> None:
        if self.consumer is None or self.checkpoint.producer is None:
            return
        txn = self.checkpoint.txn
        done = {(t, p): o for (t, p), o in txn.next_offsets.items()} if txn else {}
        dirty = self.stores.dirty()
        batch = {p for _, p in done} | dirty
        failure = self.checkpoint.commit(self.consumer, self.ctx.faults.checkpoint(dirty, batch))
        if failure is not None:
            self._failed(failure)
            return
        self.assignment.committed.update(done)
        self.pauses.succeeded(batch)

    def _failed(self, failure: Failure) -> None:
        """An aborted checkpoint: pause what failed, then re-open every partition from its
        committed offset (and, if the producer was abandoned, from a re-restored store)."""
        assert self.consumer is not None
        self.ctx.log.warning(
            "checkpoint_aborted", error=failure.reason, domain=failure.domain, reset=failure.reset
        )
        self.ctx.readiness.error(failure.reason)
        self.pauses.failed(self.consumer, failure.partitions, failure.domain, failure.reason)
        refused = diagnose(self.ctx.settings, self.ctx.spec, failure.reason)
        if refused is not None:
            self.ctx.readiness.refused(refused)
        self.assignment.reopen(self.consumer)
        self.punctuator.reset()

    # -- rebalance ---------------------------------------------------------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ctx.status.assignment = [f"{tp.topic}[{tp.partition}]" for tp in partitions]
        self.ctx.log.info("partitions_assigned", partitions=self.ctx.status.assignment)
        self.assignment.assign(consumer, partitions)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ctx.log.info(
            "partitions_revoked", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions]
        )
        if self.consumer is None:  # a failed consumer being closed: released already
            return
        if not self.pauses.opening & {tp.partition for tp in partitions}:
            self.commit()
        elif self.checkpoint.txn is not None:
            self.checkpoint.abort(Failure(set(), self.ctx.spec.checkpoint_domain, "revoked while opening"))
        self._release(partitions)

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ctx.log.warning(
            "partitions_lost", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions]
        )
        if self.consumer is None:
            return
        if self.checkpoint.txn is not None:
            self.checkpoint.abort(Failure(set(), self.ctx.spec.checkpoint_domain, "partitions lost"))
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        self.assignment.release({tp.partition for tp in partitions})
        self.ctx.status.assignment = []


def _fatal(error: KafkaError) -> bool:
    """librdkafka reports a fatal consumer error (a fenced static member) as _FATAL, not always
    with the fatal flag set."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL
