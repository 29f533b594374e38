"""The shared runtime's loop: consume a batch, run the pure processor, checkpoint, repeat;
and the rebalance callbacks. The checkpoint protocol is in checkpoint.py, the opening of
assigned partitions in assignment.py.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing import Processor, Record, StoreCorruption, Unavailable, dead_letter
from workers.runtime import clients
from workers.runtime.admin import TopicMismatch, topic_limits
from workers.runtime.assignment import Assignment
from workers.runtime.checkpoint import PRODUCER_MAX_BYTES, Checkpoint, Failure, StuckCall
from workers.runtime.fleet_config import record_config
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.memory import freeze_start_up
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.pauses import PauseControl
from workers.runtime.reader import record_of, take
from workers.runtime.stores import AssignedStores
from workers.security import errors as refusals
from workers.security.diagnose import diagnose
from workers.topology import Topology, setting

ERROR_REASON_S = 15.0  # a consumer error keeps the worker not ready this long after it last occurred
ACCESS_CHECK_S = 5.0  # how long the start waits for the broker to accept or refuse the credentials


class WorkerError(RuntimeError):
    """A condition the worker cannot continue from (missing or mismatched topics)."""


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
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.processor = processor
        self.spec = topology.worker(processor.name)
        self.serde = serde or Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
        self.clock = clock
        self.eos = settings.runtime.processing_guarantee == "exactly_once"
        self.group = settings.group(processor.name)
        self.metrics = metrics or WorkerMetrics()
        self.status = WorkerStatus(worker=processor.name, group=self.group, metrics=self.metrics)
        self.log = get_logger(worker=processor.name, group_id=self.group)
        self._stopping = False
        self._on_close = on_close
        self._topic_names = {settings.topic(t): t for t in topology.topics}
        self.consumer: Consumer | None = None
        self._punctuated: dict[int, int] = {}
        self._consumer_error_at = 0.0
        self._reconnect_due = 0.0
        timeout = self.spec.unit_timeout
        self._unit_timeout_ms = int(setting(settings, timeout.limit)) if timeout else 0
        self.stores = AssignedStores(settings, self.spec, processor, self.group, self.metrics, self.log)
        self.pauses = PauseControl(
            settings, self.spec, self.status, self.metrics, self.log, self._topic_names
        )
        self.assignment = Assignment(settings, processor, self.stores, self.pauses, self.status, self.log)
        txn_id = clients.transactional_id(settings, processor.name) if self.eos else None
        self.checkpoint = Checkpoint(
            settings,
            topology,
            self.spec,
            self.serde,
            self.metrics,
            self.stores,
            lambda: Producer(clients.producer_config(settings, txn_id)),
            limits={},
        )

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the process exit code."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        server = serve(self.status, self.settings.runtime.http_port, self.settings.runtime.http_host)
        self.log.info("worker_starting", lifecycle="init", http_port=server.server_address[1])
        try:
            self._start()
            freeze_start_up()
            self.status.set_lifecycle("running")
            self.log.info("worker_running", lifecycle="running", inputs=list(self.spec.inputs))
            while not self._stopping:
                self.poll_once()
            self._commit()
            self.status.set_lifecycle("drained")
            self.log.info("worker_drained", lifecycle="drained")
            return 0
        except StoreCorruption as exc:
            # Fatal state corruption: stay up, degraded and not ready, saying where, until stopped.
            self._degraded("store_corrupt", str(exc))
            while not self._stopping:
                self.status.last_poll_monotonic = time.monotonic()
                time.sleep(0.2)
            return 1
        except (WorkerError, TopicMismatch) as exc:
            self._degraded("worker_failed", str(exc))
            return 1
        finally:
            self.close()
            self.status.set_lifecycle("stopped")
            self.log.info("worker_stopped", lifecycle="stopped")
            server.shutdown()

    def stop(self) -> None:
        self._stopping = True

    def _degraded(self, event: str, error: str) -> None:
        self.status.set_lifecycle("degraded")
        self.status.last_error = error
        self.log.error(event, lifecycle="degraded", error=error)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.log.info("signal_received", signal=signal.Signals(signum).name, lifecycle=self.status.lifecycle)
        if not self._stopping:
            # The drain (batch, checkpoint, close) must finish inside the deadline.
            deadline = self.settings.runtime.shutdown_deadline_s
            watchdog = threading.Timer(deadline, self._drain_overdue, args=(deadline,))
            watchdog.daemon = True
            watchdog.start()
        self._stopping = True

    def _drain_overdue(self, deadline: float) -> None:
        self.log.error("drain_deadline_exceeded", deadline_s=deadline, lifecycle=self.status.lifecycle)
        os._exit(3)

    def _start(self) -> None:
        """Check topics, record the configuration, then connect: until the producer is ready
        (a broker down, a predecessor to fence) the worker waits, not ready, saying why."""
        names = {*self.spec.inputs, *self.spec.outputs, *self.spec.reads, *self.spec.stores.values()}
        while not self._stopping and not self._admitted(sorted(names)):
            self.status.last_poll_monotonic = time.monotonic()
            time.sleep(2.0)
        record_config(self.settings, self.processor.name, self.log)
        while not self._stopping and not self._connect():
            self.status.last_poll_monotonic = time.monotonic()
            time.sleep(1.0)
        self.consumer = Consumer(clients.consumer_config(self.settings, self.group))
        self.consumer.subscribe(
            [self.settings.topic(t) for t in self.spec.inputs],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _admitted(self, names: list[str]) -> bool:
        """The broker accepts the credentials and lets this worker see its topics (their limits
        read); a refusal (password, certificate, ACL) degrades the worker until it is mended."""
        refused = refusals.check_access(clients.base_config(self.settings), ACCESS_CHECK_S)
        if refused is None:
            try:
                self.checkpoint.limits.update(topic_limits(self.settings, names, PRODUCER_MAX_BYTES))
            except KafkaException as exc:
                refused = refusals.explain(exc.args[0] if exc.args else str(exc))
                if refused is None:
                    raise
        if refused is not None:
            self._refused(refused)
            return False
        self.status.pause_reasons.pop("kafka", None)
        refusals.RECENT.clear()  # mended: an earlier refusal must not degrade the running worker
        return True

    def _refused(self, message: str) -> None:
        """Kafka refused this worker (credentials, certificate, ACL): degraded and not ready,
        saying why, until no refusal for ERROR_REASON_S."""
        self._consumer_error_at = time.monotonic()
        self.status.pause_reasons["kafka"] = message
        if self.status.lifecycle != "degraded" or self.status.last_error != message:
            self._degraded("kafka_refused", message)

    def _connect(self) -> bool:
        try:
            self.checkpoint.connect()
        except (KafkaException, StuckCall) as exc:
            self.status.pause_reasons["producer"] = f"connecting the producer: {exc}"
            self.log.warning("producer_not_ready", error=str(exc))
            refused = refusals.explain(str(exc))
            if refused is not None:
                self._refused(refused)
            return False
        self.status.pause_reasons.pop("producer", None)
        return True

    def close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()  # revokes: the revoke callback checkpoints and closes stores
            except Exception as exc:
                self.log.warning("consumer_close_failed", error=str(exc))
            self.consumer = None
        self.stores.close()
        producer = self.checkpoint.producer
        if producer is not None:
            producer.flush(min(10.0, self.settings.runtime.kafka_call_timeout_s))
        self.pauses.close()
        self._on_close()

    # -- the loop ----------------------------------------------------------------------

    def poll_once(self) -> None:
        assert self.consumer is not None
        rt = self.settings.runtime
        self.status.last_poll_monotonic = time.monotonic()
        if self.checkpoint.producer is None:
            self._reconnect()
        if self.checkpoint.producer is not None:
            self.assignment.open_pending(self.consumer)
        self.pauses.tick(self.consumer)
        msgs = self._consume(rt.batch_size, rt.poll_timeout_ms / 1000)
        self.status.last_poll_monotonic = time.monotonic()
        refused = refusals.recent(ERROR_REASON_S)
        if refused is not None:
            self._refused(refused)
        elif time.monotonic() - self._consumer_error_at > ERROR_REASON_S:
            cleared = self.status.pause_reasons.pop("kafka", None)
            if cleared and self.status.lifecycle == "degraded" and not self.status.pause_reasons:
                self.status.set_lifecycle("running")
                self.log.info("worker_recovered", lifecycle="running")
        if msgs:
            started = time.perf_counter()
            decoded = [self._decode(msg) for msg in msgs]
            self._look_ahead([d for d in decoded if isinstance(d, Record)])
            self._guarded(functools.partial(self._handle_batch, msgs, decoded))
            self.metrics.batch_size.labels(self.processor.name).observe(len(msgs))
            self.metrics.batch_seconds.labels(self.processor.name).observe(time.perf_counter() - started)
        self._guarded(self._punctuate)
        if self.checkpoint.due(drained=not msgs):
            self._commit()

    def _consume(self, batch_size: int, poll_timeout_s: float) -> list[Message]:
        """What is fetched, up to a batch, at once; else wait for a first record, but never past
        the moment the open checkpoint is due, nor longer than `commit_idle_ms` with one open
        (then the input is drained: commit, do not wait out the interval)."""
        assert self.consumer is not None
        wait = min(poll_timeout_s, self.checkpoint.due_in(), self.checkpoint.idle_s())
        return take(self.consumer, batch_size, wait)

    def _reconnect(self) -> None:
        """The producer was abandoned: pause everything until a new one has fenced it."""
        assert self.consumer is not None
        self.assignment.reopen(self.consumer)
        if time.monotonic() < self._reconnect_due:
            return
        self._reconnect_due = time.monotonic() + 2.0
        if self._connect():
            self.log.info("producer_reconnected")

    def _guarded(self, step: Callable[[], bool | None]) -> bool:
        """A produce that fails at once (a fenced or fatally failed producer, a queue that stays
        full) aborts the checkpoint like a failed commit: the worker reconnects and re-opens."""
        try:
            return step() is not False
        except (KafkaException, StuckCall) as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            reset = (
                isinstance(exc, StuckCall)
                or (error is not None and error.fatal())
                or (error is not None and error.code() == KafkaError._FATAL)
            )
            failure = Failure(set(self.stores.dirty()), self.spec.checkpoint_domain, str(exc), reset=reset)
            self._failed(self.checkpoint.abort(failure))
            return False

    def _decode(self, msg: Message) -> Record | DecodeError | None:
        """The message as a decoded Record, the reason it does not decode, or None (an event)."""
        if msg.error() is not None:
            return None
        topic = self._topic_names.get(msg.topic(), msg.topic())
        schema = self.topology.topics[topic].value_schema
        if not schema:
            return record_of(msg, topic)
        try:
            value = self.serde.decode(
                schema, msg.value() or b"", topic=topic, partition=msg.partition(), offset=msg.offset()
            )
        except DecodeError as exc:
            return exc
        return record_of(msg, topic, value)

    def _look_ahead(self, records: list[Record]) -> None:
        """Let the core prepare the batch (it must not change any outcome): never fatal."""
        try:
            self.processor.look_ahead(records, self.stores.views_for)
        except Exception as exc:
            self.log.warning("look_ahead_failed", error=f"{type(exc).__name__}: {exc}")

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
                self.checkpoint.counter(self.metrics.consumed, self._topic_names.get(topic, topic)).inc(n)

    def _handle(self, msg: Message, decoded: Record | DecodeError | None) -> bool:
        """Process one message; False when the checkpoint had to be aborted."""
        err = msg.error()
        if err is not None:
            return self._consumer_event(msg, err)
        record = (
            decoded
            if isinstance(decoded, Record)
            else record_of(msg, self._topic_names.get(msg.topic(), msg.topic()))
        )
        if isinstance(decoded, DecodeError):
            self._dead_letter(record, decoded.code, str(decoded))
        elif not self._process(record):
            return False
        self.checkpoint.advance(msg.topic(), record.partition, record.offset + 1)
        return True

    def _process(self, record: Record) -> bool:
        views = self.stores.views_for(record.partition)
        for view in views.values():
            view.begin_record()
        started = time.monotonic()
        try:
            outputs = self.processor.process(record, views, int(self.clock() * 1000))
        except Unavailable as exc:
            self.log.warning(
                "input_unavailable", topic=record.topic, partition=record.partition, error=str(exc)
            )
            self._failed(self.checkpoint.abort(Failure({record.partition}, self.spec.reads_domain, str(exc))))
            return False
        except Exception as exc:  # a bug or poison pill must not stop the partition
            for view in views.values():
                view.rollback_record()
            where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
            self.log.exception("processor_failed", symbol=record.key, **where)
            self._dead_letter(record, "PROCESSOR_ERROR", f"{type(exc).__name__}: {exc}")
            return True
        elapsed_ms = int((time.monotonic() - started) * 1000)
        if self._unit_timeout_ms and elapsed_ms > self._unit_timeout_ms:
            for view in views.values():
                view.rollback_record()
            self.log.warning("unit_timed_out", offset=record.offset, symbol=record.key, elapsed_ms=elapsed_ms)
            fail = self.spec.unit_timeout is not None and self.spec.unit_timeout.on_timeout == "fail"
            timed_out = self.processor.timed_out(record, elapsed_ms) if fail else None
            if timed_out is None:
                self._dead_letter(record, "TIMEOUT", f"processing took {elapsed_ms} ms")
                return True
            outputs = timed_out
        self.checkpoint.emit(outputs, record)
        return True

    def _dead_letter(self, record: Record, code: str, message: str) -> None:
        self.checkpoint.emit([dead_letter(record, self.spec.dead_letter, code, message)])
        self.checkpoint.count_dead_letter(code)

    def _consumer_event(self, msg: Message, err: KafkaError) -> bool:
        if err.code() == KafkaError._PARTITION_EOF:
            # Everything up to the end, transaction markers included, is processed: committing
            # that far makes an idle group's lag 0 (records not yet processed).
            key, end = (msg.topic(), msg.partition()), msg.offset()
            if msg.partition() not in self.pauses.opening and end > self.assignment.committed.get(key, -1):
                self.checkpoint.advance(msg.topic(), msg.partition(), end)
            return True
        refused = refusals.explain(err)
        if refused is not None:
            self._refused(refused)
            return True
        self._consumer_error_at = time.monotonic()
        self.status.pause_reasons["kafka"] = f"consumer: {err}"
        self.status.last_error = str(err)
        self.log.warning("consume_error", error=str(err), fatal=err.fatal())
        return True

    def _punctuate(self) -> None:
        interval = self.processor.punctuate_interval_ms
        if interval <= 0 or self.consumer is None:
            return
        now_ms = int(self.clock() * 1000)
        for partition in sorted({tp.partition for tp in self.consumer.assignment()} - self.pauses.opening):
            if self._punctuated.get(partition) == now_ms // interval:
                continue
            self._punctuated[partition] = now_ms // interval
            outputs = self.processor.punctuate(partition, self.stores.views_for(partition), now_ms)
            if outputs:
                self.checkpoint.emit(outputs)

    # -- checkpoints and re-opening ----------------------------------------------------

    def _commit(self) -> None:
        if self.consumer is None or self.checkpoint.producer is None:
            return
        txn = self.checkpoint.txn
        done = {(t, p): o for (t, p), o in txn.next_offsets.items()} if txn else {}
        dirty = self.stores.dirty()
        batch = {p for _, p in done} | dirty
        failure = self.checkpoint.commit(self.consumer, self.pauses.injected_faults(dirty, batch))
        if failure is not None:
            self._failed(failure)
            return
        self.assignment.committed.update(done)
        self.pauses.succeeded(batch)

    def _failed(self, failure: Failure) -> None:
        """An aborted checkpoint: pause what failed, then re-open every partition from its
        committed offset (and, if the producer was abandoned, from a re-restored store)."""
        assert self.consumer is not None
        self.log.warning(
            "checkpoint_aborted", error=failure.reason, domain=failure.domain, reset=failure.reset
        )
        self.status.last_error = failure.reason
        self.pauses.failed(self.consumer, failure.partitions, failure.domain, failure.reason)
        refused = diagnose(self.settings, self.spec, failure.reason)
        if refused is not None:
            self._refused(refused)
        self.assignment.reopen(self.consumer)
        self._punctuated.clear()

    # -- rebalance ---------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.status.assignment = [f"{tp.topic}[{tp.partition}]" for tp in partitions]
        self.log.info("partitions_assigned", partitions=self.status.assignment)
        self.assignment.assign(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.info("partitions_revoked", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        if not self.pauses.opening & {tp.partition for tp in partitions}:
            self._commit()
        elif self.checkpoint.txn is not None:
            self.checkpoint.abort(Failure(set(), self.spec.checkpoint_domain, "revoked while opening"))
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.warning("partitions_lost", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        if self.checkpoint.txn is not None:
            self.checkpoint.abort(Failure(set(), self.spec.checkpoint_domain, "partitions lost"))
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        self.assignment.release({tp.partition for tp in partitions})
        self.status.assignment = []
