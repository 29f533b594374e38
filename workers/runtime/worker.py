"""The shared runtime's loop: consume a batch, run the pure processor, checkpoint, repeat;
and the rebalance callbacks. The checkpoint protocol itself is in checkpoint.py.

Partitions open outside the rebalance callback: an assigned partition stays paused until its
committed offset could be read (a dead predecessor's open transaction can hold it back), its
stores are restored and the processor has been told; the same path re-opens every partition
after an aborted checkpoint, so a rewind is an ordinary re-open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.processing import Processor, Record, StoreCorruption, StoreError, Unavailable, dead_letter
from workers.processing.records import header_map
from workers.runtime import clients
from workers.runtime.admin import max_message_bytes
from workers.runtime.checkpoint import PRODUCER_MAX_BYTES, Checkpoint, Failure, StuckCall, bounded
from workers.runtime.fleet_config import record_config
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.pauses import PauseControl
from workers.runtime.stores import AssignedStores
from workers.topology import Topology, setting

ERROR_REASON_S = 15.0  # a consumer error keeps the worker not ready this long after it last occurred


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
        self._committed: dict[tuple[str, int], int] = {}
        self._punctuated: dict[int, int] = {}
        self._consumer_error_at = 0.0
        self._reconnect_due = 0.0
        timeout = self.spec.unit_timeout
        self._unit_timeout_ms = int(setting(settings, timeout.limit)) if timeout else 0
        self.stores = AssignedStores(settings, self.spec, processor, self.group, self.metrics, self.log)
        self.pauses = PauseControl(
            settings, self.spec, self.status, self.metrics, self.log, self._topic_names
        )
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
        server = serve(self.status, self.settings.runtime.http_port)
        self.log.info("worker_starting", lifecycle="init", http_port=server.server_address[1])
        try:
            self._start()
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
        except WorkerError as exc:
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
        limits = self._topic_limits()
        self.checkpoint.limits.update(limits)
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

    def _connect(self) -> bool:
        try:
            self.checkpoint.connect()
        except (KafkaException, StuckCall) as exc:
            self.status.pause_reasons["producer"] = f"connecting the producer: {exc}"
            self.log.warning("producer_not_ready", error=str(exc))
            return False
        self.status.pause_reasons.pop("producer", None)
        return True

    def _topic_limits(self) -> dict[str, int]:
        """Every topic this worker touches must exist with the pipeline's partition count;
        returns the largest record each output topic accepts."""
        names = {*self.spec.inputs, *self.spec.outputs, *self.spec.reads, *self.spec.stores.values()}
        try:
            found = max_message_bytes(self.settings, sorted(names))
        except KeyError as exc:
            raise WorkerError(
                f"topic {exc.args[0]} does not exist: run `regime-fleet topics create`"
            ) from exc
        counts = {t: n for t, (n, _) in found.items()}
        if len(set(counts.values())) > 1:
            raise WorkerError(f"co-partitioned topics differ in partition count: {counts}")
        return {t: min(limit, PRODUCER_MAX_BYTES) for t, (_, limit) in found.items()}

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
        self._open_pending()
        self.pauses.tick(self.consumer)
        msgs = self.consumer.consume(num_messages=rt.batch_size, timeout=rt.poll_timeout_ms / 1000)
        self.status.last_poll_monotonic = time.monotonic()
        if time.monotonic() - self._consumer_error_at > ERROR_REASON_S:
            self.status.pause_reasons.pop("kafka", None)
        if msgs:
            started = time.perf_counter()
            for msg in msgs:
                if not self._handle(msg):
                    break  # the checkpoint was aborted: the rest is read again after the re-open
            self.metrics.batch_size.labels(self.processor.name).observe(len(msgs))
            self.metrics.batch_seconds.labels(self.processor.name).observe(time.perf_counter() - started)
        self._punctuate()
        if self.checkpoint.due():
            self._commit()

    def _reconnect(self) -> None:
        """The producer was abandoned: pause everything until a new one has fenced it."""
        assert self.consumer is not None
        self.consumer.pause(self.consumer.assignment())
        self.pauses.opening |= {tp.partition for tp in self.consumer.assignment()}
        if time.monotonic() < self._reconnect_due:
            return
        self._reconnect_due = time.monotonic() + 2.0
        if self._connect():
            self.log.info("producer_reconnected")

    def _handle(self, msg: Message) -> bool:
        """Process one message; False when the checkpoint had to be aborted."""
        err = msg.error()
        if err is not None:
            return self._consumer_event(msg, err)
        topic = self._topic_names.get(msg.topic(), msg.topic())
        partition, offset = msg.partition(), msg.offset()
        self.checkpoint.counter(self.metrics.consumed, topic).inc()
        raw_key, raw_headers = msg.key(), msg.headers() or []
        record = Record(
            topic,
            partition,
            offset,
            raw_key.decode("utf-8", "replace") if raw_key is not None else None,
            {},
            header_map(raw_headers),
            msg.value() or b"",
            msg.timestamp()[1],
            raw_key,
            tuple(raw_headers),
        )
        schema = self.topology.topics[topic].value_schema if topic in self.topology.topics else None
        try:
            value = (
                self.serde.decode(schema, record.raw, topic=topic, partition=partition, offset=offset)
                if schema
                else {}
            )
        except DecodeError as exc:
            self._dead_letter(record, exc.code, str(exc))
        else:
            if not self._process(dataclasses.replace(record, value=value)):
                return False
        self.checkpoint.advance(msg.topic(), partition, offset + 1)
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
            assert self.spec.unit_timeout is not None
            timed_out = (
                self.processor.timed_out(record, elapsed_ms)
                if self.spec.unit_timeout.on_timeout == "fail"
                else None
            )
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
            if msg.partition() not in self.pauses.opening and end > self._committed.get(key, -1):
                self.checkpoint.advance(msg.topic(), msg.partition(), end)
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
        batch = {p for _, p in done} | self.stores.dirty()
        failure = self.checkpoint.commit(
            self.consumer, self.pauses.injected_faults(self.stores.dirty(), batch)
        )
        if failure is not None:
            self._failed(failure)
            return
        self._committed.update(done)
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
        assigned = self.consumer.assignment()
        self.consumer.pause(assigned)
        self.pauses.opening |= {tp.partition for tp in assigned}
        self._punctuated.clear()

    def _open_pending(self) -> None:
        """Open the partitions waiting in `pauses.opening`: committed offsets, stores, position."""
        assert self.consumer is not None
        opening = self.pauses.opening - set(self.pauses.paused_until)
        if not opening or self.checkpoint.producer is None:
            return
        tps = [tp for tp in self.consumer.assignment() if tp.partition in opening]
        timeout = min(5.0, self.settings.runtime.kafka_call_timeout_s)
        try:
            committed = bounded(lambda: self.consumer.committed(tps, timeout=timeout), timeout, "committed")  # type: ignore[union-attr]
            self._restore(committed)
            self.processor.assigned(sorted(opening))
        except (KafkaException, StuckCall, Unavailable) as exc:
            reason = f"opening partitions {sorted(opening)}: {exc}"
            if "UNSTABLE_OFFSET_COMMIT" in str(exc) or isinstance(exc, StuckCall):
                reason += " (a predecessor's transaction is still open: it ends when fenced or timed out)"
            self.status.pause_reasons["opening"] = reason
            self.log.warning("partitions_not_open", reason=reason)
            return
        except StoreError as exc:
            if isinstance(exc, StoreCorruption):
                raise
            self.status.pause_reasons["opening"] = f"restoring stores: {exc}"
            return
        self.status.pause_reasons.pop("opening", None)
        self.pauses.opening -= opening
        if not (self.pauses.gauge is not None and self.pauses.gauge.paused):
            self.consumer.resume([tp for tp in tps if tp.partition not in self.pauses.held()])
        self.log.info("partitions_open", partitions=sorted(opening))

    def _restore(self, committed: list[TopicPartition]) -> None:
        """Restore stores and position each partition at its committed offset (at-least-once:
        past what its store already holds)."""
        assert self.consumer is not None
        reader = Consumer(clients.reader_config(self.settings)) if self.stores.names else None
        try:
            for tp in committed:
                done = tp.offset if tp.offset >= 0 else 0
                self._committed[(tp.topic, tp.partition)] = done
                if reader is not None:
                    source = self.stores.open(
                        tp.partition, reader, skip_from=done if self.eos and tp.offset >= 0 else None
                    )
                    if not self.eos and source is not None and source + 1 > done:
                        done = source + 1  # at-least-once: the store already holds this work
                with contextlib.suppress(KafkaException):  # not fetching yet: it starts there anyway
                    self.consumer.seek(TopicPartition(tp.topic, tp.partition, done))
        finally:
            if reader is not None:
                reader.close()

    # -- rebalance ---------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.status.assignment = [f"{tp.topic}[{tp.partition}]" for tp in partitions]
        self.log.info("partitions_assigned", partitions=self.status.assignment)
        consumer.assign(partitions)
        consumer.pause(partitions)
        self.pauses.opening |= {tp.partition for tp in partitions}

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
        gone = {tp.partition for tp in partitions}
        self.stores.release(gone)  # frees the RocksDB LOCK
        self.pauses.forget(gone)
        for key in [k for k in self._committed if k[1] in gone]:
            del self._committed[key]
        self.status.assignment = []
