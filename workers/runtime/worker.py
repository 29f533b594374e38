"""The shared runtime: consume a batch, run the pure processor, checkpoint, repeat.

Checkpoint protocol, exactly-once (one Kafka transaction per commit interval):
  1. Outputs of every processed record are produced inside the open transaction.
  2. Each store's pending changes go to its changelog, in the same transaction, each with
     a `source_offset` header naming the last input offset they reflect.
  3. The producer is flushed; any failed delivery aborts the checkpoint.
  4. The next input offsets are sent with the consumer group metadata, and the transaction
     commits. On any failure: abort, drop pending changes, rewind to the committed offsets.
  5. Only after the commit are the changes written to RocksDB, with the changelog offset.
At-least-once mode keeps the order without a transaction: outputs are flushed (1, 3), then
the changelog (2, 3), then offsets are committed (4), then RocksDB is written (5).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.runtime import clients
from workers.runtime.backpressure import Downstream
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.pauses import PauseControl
from workers.runtime.records import Output, Processor, Record, dead_letter, header_map
from workers.runtime.stores import AssignedStores, Changes
from workers.state.changelog import SOURCE_OFFSET_HEADER
from workers.state.store import StoreCorruption
from workers.topology import Topology

FLEET_DLQ = "fleet.dlq"
# The failure domain of a checkpoint that carries no store changes, by worker.
OUTPUT_DOMAIN = {"ingest": "buffer", "scheduler": "state", "engine": "engine", "publisher": "publish"}


class WorkerError(RuntimeError):
    """A condition the worker cannot continue from (fenced producer, mismatched topics)."""


class Worker:
    def __init__(
        self,
        settings: FleetSettings,
        topology: Topology,
        processor: Processor,
        *,
        serde: Serde | None = None,
        clock: Callable[[], float] = time.time,
        dead_letter_topic: str = FLEET_DLQ,
        downstream: Downstream | None = None,
        observe: Callable[[Output], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.processor = processor
        self.spec = topology.worker(processor.name)
        self.serde = serde or Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
        self.clock = clock
        self.dead_letter_topic = dead_letter_topic
        self.eos = settings.runtime.processing_guarantee == "exactly_once"
        self.group = settings.group(processor.name)
        self.metrics = WorkerMetrics()
        self.status = WorkerStatus(worker=processor.name, group=self.group, metrics=self.metrics)
        self.log = get_logger(worker=processor.name, group_id=self.group)
        self._stopping = False
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._in_txn = False
        self._txn_started = 0.0
        self._changelog_offsets: dict[tuple[str, int], int] = {}
        self._delivery_errors: list[str] = []
        self._topic_names = {settings.topic(t): t for t in topology.topics}
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._children: dict[tuple[int, str], Any] = {}
        self._observe = observe
        self.stores = AssignedStores(settings, self.spec, processor, self.group, self.metrics, self.log)
        self._output_domain = OUTPUT_DOMAIN.get(processor.name, "publish")
        self.pauses = PauseControl(
            settings, self.spec, self.status, self.metrics, self.log, downstream, self._topic_names
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
            self._checkpoint()
            self.status.set_lifecycle("drained")
            self.log.info("worker_drained", lifecycle="drained")
            return 0
        except StoreCorruption as exc:
            # Fatal state corruption: stay up, degraded and not ready, saying where, until stopped.
            self.status.set_lifecycle("degraded")
            self.status.last_error = str(exc)
            self.log.error("store_corrupt", lifecycle="degraded", error=str(exc))
            while not self._stopping:
                self.status.last_poll_monotonic = time.monotonic()
                time.sleep(0.2)
            return 1
        except WorkerError as exc:
            self.status.set_lifecycle("degraded")
            self.status.last_error = str(exc)
            self.log.error("worker_failed", lifecycle="degraded", error=str(exc))
            return 1
        finally:
            self.close()
            self.status.set_lifecycle("stopped")
            self.log.info("worker_stopped", lifecycle="stopped")
            server.shutdown()

    def stop(self) -> None:
        self._stopping = True

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
        self._check_copartitioned()
        s = self.settings
        self.producer = Producer(
            clients.producer_config(s, clients.transactional_id(s, self.processor.name) if self.eos else None)
        )
        if self.eos:
            self.producer.init_transactions(30)
        self.consumer = Consumer(clients.consumer_config(s, self.group))
        self.consumer.subscribe(
            [s.topic(t) for t in self.spec.inputs],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()  # revokes: the revoke callback checkpoints and closes stores
            except Exception as exc:
                self.log.warning("consumer_close_failed", error=str(exc))
            self.consumer = None
        self.stores.close()
        if self.producer is not None:
            self.producer.flush(10)
            self.producer = None
        self.pauses.close()

    def _check_copartitioned(self) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(clients.base_config(self.settings))
        meta = admin.list_topics(timeout=10)
        counts = {}
        for t in (
            *self.spec.inputs,
            *self.spec.outputs,
            *self.spec.reads,
            *self.spec.stores.values(),
        ):
            topic = meta.topics.get(self.settings.topic(t))
            if topic is None or topic.error is not None:
                raise WorkerError(
                    f"topic {self.settings.topic(t)} does not exist: run `regime-fleet topics create`"
                )
            counts[t] = len(topic.partitions)
        if len(set(counts.values())) > 1:
            raise WorkerError(f"co-partitioned topics differ in partition count: {counts}")

    # -- the loop ----------------------------------------------------------------------

    def poll_once(self) -> None:
        assert self.consumer is not None
        rt = self.settings.runtime
        self.pauses.tick(self.consumer)
        msgs = self.consumer.consume(num_messages=rt.batch_size, timeout=rt.poll_timeout_ms / 1000)
        self.status.last_poll_monotonic = time.monotonic()
        if msgs:
            started = time.perf_counter()
            for msg in msgs:
                self._handle(msg)
            self.metrics.batch_size.labels(self.processor.name).observe(len(msgs))
            self.metrics.batch_seconds.labels(self.processor.name).observe(time.perf_counter() - started)
        self._punctuate()
        if self._in_txn and (time.monotonic() - self._txn_started) * 1000 >= rt.commit_interval_ms:
            self._checkpoint()

    def _handle(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                self.log.warning("consume_error", error=str(err))
            return
        topic = self._topic_names.get(msg.topic(), msg.topic())
        partition, offset = msg.partition(), msg.offset()
        self._begin()
        self._counter(self.metrics.consumed, topic).inc()
        raw = msg.value() or b""
        key = msg.key().decode("utf-8", "replace") if msg.key() is not None else None
        headers = header_map(msg.headers())
        ts = msg.timestamp()[1]
        schema = self.topology.topics[topic].value_schema if topic in self.topology.topics else None
        try:
            value = (
                self.serde.decode(schema, raw, topic=topic, partition=partition, offset=offset)
                if schema
                else {}
            )
        except DecodeError as exc:
            record = Record(topic, partition, offset, key, {}, headers, raw, ts)
            self._emit([dead_letter(record, self.dead_letter_topic, exc.code, str(exc))], partition)
            self.metrics.dead_letters.labels(self.processor.name, exc.code).inc()
            self._next_offsets[(msg.topic(), partition)] = offset + 1
            return
        record = Record(topic, partition, offset, key, value, headers, raw, ts)
        views = self.stores.views_for(partition)
        for view in views.values():
            view.begin_record()
        try:
            outputs = self.processor.process(record, views, int(self.clock() * 1000))
        except Exception as exc:  # a bug or poison pill must not stop the partition
            for view in views.values():
                view.rollback_record()
            self.log.exception(
                "processor_failed", topic=topic, partition=partition, offset=offset, symbol=key
            )
            outputs = [
                dead_letter(
                    record,
                    self.dead_letter_topic,
                    "PROCESSOR_ERROR",
                    f"{type(exc).__name__}: {exc}",
                )
            ]
            self.metrics.dead_letters.labels(self.processor.name, "PROCESSOR_ERROR").inc()
        self._emit(outputs, partition)
        self._next_offsets[(msg.topic(), partition)] = offset + 1

    def _punctuate(self) -> None:
        punctuate = getattr(self.processor, "punctuate", None)
        if punctuate is None:
            return
        now_ms = int(self.clock() * 1000)
        for partition in sorted({p for _, p in self._assigned_partitions()}):
            outputs = punctuate(partition, self.stores.views_for(partition), now_ms)
            if outputs:
                self._begin()
                self._emit(outputs, partition)

    def _assigned_partitions(self) -> list[tuple[str, int]]:
        assert self.consumer is not None
        return [(tp.topic, tp.partition) for tp in self.consumer.assignment()]

    def _begin(self) -> None:
        if self._in_txn:
            return
        if self.eos:
            assert self.producer is not None
            self.producer.begin_transaction()
        self._in_txn = True
        self._txn_started = time.monotonic()

    def _emit(self, outputs: list[Output], partition: int) -> None:
        assert self.producer is not None
        for out in outputs:
            topic = self.settings.topic(out.topic)
            schema = self.topology.topics[out.topic].value_schema
            if isinstance(out.value, bytes):
                value = out.value
            else:
                assert schema is not None, f"{out.topic} has no value schema"
                value = self.serde.encode(schema, out.value, topic=topic)
            kwargs: dict[str, Any] = {}
            if out.partition is not None:
                kwargs["partition"] = out.partition
            self._produce(
                topic,
                out.key.encode(),
                value,
                [(k, v.encode()) for k, v in out.headers.items()],
                track=not self.eos,
                **kwargs,
            )
            self._counter(self.metrics.produced, out.topic).inc()
            if self._observe is not None:
                self._observe(out)

    def _counter(self, metric: Any, topic: str) -> Any:
        """Per-topic metric children, cached: labels() costs more than the increment."""
        key = (id(metric), topic)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.processor.name, topic)
        return child

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        *,
        track: bool,
        **kwargs: Any,
    ) -> None:
        """Produce, waiting (never dropping) while the local queue is full. `track` asks for a
        delivery report: needed for changelog offsets, and for outputs in at-least-once mode
        (under a transaction a failed delivery fails the commit by itself)."""
        assert self.producer is not None
        if track:
            kwargs["on_delivery"] = self._on_delivery
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, **kwargs)
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: wait for deliveries, never drop

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._delivery_errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        key = (msg.topic(), msg.partition())
        if self._changelog_offsets.get(key, -1) < msg.offset():
            self._changelog_offsets[key] = msg.offset()

    # -- checkpoint --------------------------------------------------------------------

    def _checkpoint(self) -> None:
        """Steps 2-5 of the checkpoint protocol (step 1 happened while processing)."""
        if not self._in_txn:
            return
        assert self.producer is not None and self.consumer is not None
        started = time.perf_counter()
        dirty = self.stores.dirty()
        batch = {p for _, p in self._next_offsets}
        for domain, faulted in self.pauses.injected_faults(dirty, batch, self._output_domain).items():
            if faulted:
                self._abort(KafkaException(KafkaError(KafkaError._FAIL, f"injected {domain} fault")))
                self.pauses.failed(
                    self.consumer, faulted, domain, f"injected {domain} fault (runtime.fault_file)"
                )
                return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._next_offsets.items()]
        if not self.eos:
            # At-least-once: outputs must be durable before the changelog says they were made.
            undelivered = self.producer.flush(30)
            if undelivered or self._delivery_errors:
                reason = (
                    "; ".join(self._delivery_errors[:3]) or f"{undelivered} outputs undelivered after 30 s"
                )
                self._abort(KafkaException(KafkaError(KafkaError._FAIL, reason)))
                self.pauses.failed(
                    self.consumer, {tp.partition for tp in offsets}, self._output_domain, reason
                )
                return
        changes, sources = self._produce_changelogs()  # step 2
        try:
            undelivered = self.producer.flush(30)  # step 3
            if undelivered:
                self._delivery_errors.append(f"{undelivered} records still undelivered after 30 s")
            if self._delivery_errors:
                raise KafkaException(KafkaError(KafkaError._FAIL, "; ".join(self._delivery_errors[:3])))
            if self.eos:  # step 4
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), 30
                )
                self.producer.commit_transaction(30)
            elif offsets:
                self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._abort(exc)
            failed = {p for _, p in changes} | {tp.partition for tp in offsets}
            self.pauses.failed(self.consumer, failed, "state" if changes else self._output_domain, str(exc))
            return
        self.stores.apply(changes, self._changelog_offsets, sources)  # step 5
        self._in_txn = False
        self._next_offsets.clear()
        self._delivery_errors.clear()
        self.pauses.succeeded({p for _, p in changes} | {tp.partition for tp in offsets})
        self.metrics.commit_seconds.labels(self.processor.name).observe(time.perf_counter() - started)

    def _produce_changelogs(self) -> tuple[Changes, dict[int, int | None]]:
        changes = self.stores.take_changes()
        sources: dict[int, int | None] = {}
        for (store, partition), pending in changes.items():
            source = max((o - 1 for (_, p), o in self._next_offsets.items() if p == partition), default=None)
            sources[partition] = source
            headers = [(SOURCE_OFFSET_HEADER, str(source).encode())] if source is not None else []
            for key, value in pending.items():
                topic = self.stores.changelog(store)
                self._produce(topic, key.encode(), value, headers, track=True, partition=partition)
        return changes, sources

    def _abort(self, exc: KafkaException) -> None:
        assert self.producer is not None and self.consumer is not None
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        self.metrics.aborts.labels(self.processor.name).inc()
        self.log.warning("checkpoint_aborted", error=str(exc))
        if error is not None and error.fatal():
            raise WorkerError(f"fatal producer error, the instance must restart: {error}")
        if self.eos:
            try:
                self.producer.abort_transaction(30)
            except KafkaException as abort_exc:
                raise WorkerError(f"abort failed: {abort_exc}") from abort_exc
        self.stores.discard()
        self._in_txn = False
        self._next_offsets.clear()
        self._delivery_errors.clear()
        self._rewind()

    def _rewind(self) -> None:
        """Seek every assigned partition back to its committed offset and reset caches."""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp in self.consumer.committed(assigned, timeout=30):
            target = tp if tp.offset >= 0 else TopicPartition(tp.topic, tp.partition, 0)
            # Not fetching yet raises; such a partition starts from the committed offset anyway.
            with contextlib.suppress(KafkaException):
                self.consumer.seek(target)
        reset = getattr(self.processor, "assigned", None)
        if reset is not None:
            reset(sorted(tp.partition for tp in assigned))

    # -- rebalance ---------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.status.assignment = [f"{tp.topic}[{tp.partition}]" for tp in partitions]
        self.log.info("partitions_assigned", partitions=self.status.assignment)
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=30)}
        reader = Consumer(clients.reader_config(self.settings)) if self.stores.names else None
        try:
            for tp in partitions if reader is not None else []:
                done = committed.get((tp.topic, tp.partition), -1)
                source = self.stores.open(
                    tp.partition, reader, skip_from=done if self.eos and done >= 0 else None
                )
                if not self.eos and source is not None and source + 1 > done:
                    tp.offset = source + 1  # at-least-once: the store already holds this work
        finally:
            if reader is not None:
                reader.close()
        hook = getattr(self.processor, "assigned", None)
        if hook is not None:
            hook(sorted(tp.partition for tp in partitions))
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.info("partitions_revoked", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        self._checkpoint()
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.warning("partitions_lost", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        if self._in_txn and self.eos and self.producer is not None:
            self.producer.abort_transaction(30)
        self.stores.discard()
        self._in_txn = False
        self._next_offsets.clear()
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        self.stores.release({tp.partition for tp in partitions})  # frees the RocksDB LOCK
        self.status.assignment = []
