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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.runtime import clients
from workers.runtime.backpressure import BackpressureGauge, Downstream
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.records import Output, Processor, Record, dead_letter, header_map
from workers.state.changelog import SOURCE_OFFSET_HEADER, restore
from workers.state.store import PartitionStore, StoreCorruption, StoreView
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
        self._stores: dict[tuple[str, int], PartitionStore] = {}
        self._views: dict[tuple[str, int], StoreView] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._in_txn = False
        self._txn_started = 0.0
        self._changelog_offsets: dict[tuple[str, int], int] = {}
        self._delivery_errors: list[str] = []
        self._topic_names = {settings.topic(t): t for t in topology.topics}
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._children: dict[tuple[int, str], Any] = {}
        self._persist_failures: dict[int, int] = {}
        self._downstream = downstream
        self._observe = observe
        self._lag_due = 0.0
        self._gauge: BackpressureGauge | None = None
        self._paused_until: dict[int, float] = {}

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
        for key in list(self._stores):
            self._close_store(key)
        if self.producer is not None:
            self.producer.flush(10)
            self.producer = None
        if self._gauge is not None:
            self._gauge.close()
            self._gauge = None

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
        self._resume_due()
        self._apply_backpressure()
        msgs = self.consumer.consume(num_messages=rt.batch_size, timeout=rt.poll_timeout_ms / 1000)
        self.status.last_poll_monotonic = time.monotonic()
        if msgs:
            started = time.perf_counter()
            for msg in msgs:
                self._handle(msg)
            self.metrics.batch_size.labels(self.processor.name).observe(len(msgs))
            self.metrics.batch_seconds.labels(self.processor.name).observe(time.perf_counter() - started)
        self._punctuate()
        self._update_lag()
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
        views = self._views_for(partition)
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
            outputs = punctuate(partition, self._views_for(partition), now_ms)
            if outputs:
                self._begin()
                self._emit(outputs, partition)

    def _assigned_partitions(self) -> list[tuple[str, int]]:
        assert self.consumer is not None
        return [(tp.topic, tp.partition) for tp in self.consumer.assignment()]

    def _views_for(self, partition: int) -> Mapping[str, StoreView]:
        return {
            name: self._views[(name, partition)]
            for name in self.processor.stores
            if (name, partition) in self._views
        }

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
        **kwargs: Any,
    ) -> None:
        assert self.producer is not None
        while True:
            try:
                self.producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._on_delivery, **kwargs
                )
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
        for domain, faulted in self._injected_faults().items():
            if faulted:
                self._checkpoint_failed(faulted, domain, f"injected {domain} fault (runtime.fault_file)")
                return
        changes = self._produce_changelogs()  # step 2
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._next_offsets.items()]
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
            domain = "state" if changes else OUTPUT_DOMAIN.get(self.processor.name, "publish")
            self._checkpoint_failed(failed, domain, str(exc))
            return
        for (store, partition), (pending, source) in changes.items():  # step 5
            changelog = self.settings.topic(self.spec.stores[store])
            self._stores[(store, partition)].apply(
                pending,
                changelog_offset=self._changelog_offsets.get((changelog, partition)),
                source_offset=source,
            )
        self._in_txn = False
        self._next_offsets.clear()
        self._delivery_errors.clear()
        for partition in {p for _, p in changes} | {tp.partition for tp in offsets}:
            self._persist_failures.pop(partition, None)
            if partition not in self._paused_until:
                self.status.pause_reasons.pop(f"partition {partition}", None)
        if self.status.lifecycle == "degraded" and not self.status.pause_reasons:
            self.status.set_lifecycle("running")
            self.log.info("worker_recovered", lifecycle="running")
        self.metrics.commit_seconds.labels(self.processor.name).observe(time.perf_counter() - started)

    # -- state failure domain: nothing is published without its state ------------------

    def _injected_faults(self) -> dict[str, set[int]]:
        """Test hook: `persist:<p>` fails checkpoints with store changes for partition p,
        `produce:<p>` any checkpoint of partition p (`*` = every partition)."""
        fault_file = self.settings.runtime.fault_file
        if fault_file is None or not Path(fault_file).exists():
            return {}
        lines = Path(fault_file).read_text().split()
        dirty = {p for (_, p), view in self._views.items() if view.pending}
        batch = {p for _, p in self._next_offsets} | dirty

        def hit(kind: str, candidates: set[int]) -> set[int]:
            return {p for p in candidates if f"{kind}:{p}" in lines or f"{kind}:*" in lines}

        return {
            "state": hit("persist", dirty),
            OUTPUT_DOMAIN.get(self.processor.name, "publish"): hit("produce", batch),
        }

    def _checkpoint_failed(self, partitions: set[int], domain: str, reason: str) -> None:
        """Abort the checkpoint; after persist_max_attempts in a row, pause the partition
        (not ready; retried every persist_retry_s). Ingest fails fast: it also turns degraded."""
        if self._in_txn:
            self._abort(KafkaException(KafkaError(KafkaError._FAIL, reason)))
        rt = self.settings.runtime
        for p in partitions:
            self._persist_failures[p] = self._persist_failures.get(p, 0) + 1
            self.metrics.retries.labels(domain).inc()
            if self._persist_failures[p] >= rt.persist_max_attempts and self.consumer is not None:
                self.consumer.pause(self._input_partitions(p))
                self._paused_until[p] = time.monotonic() + rt.persist_retry_s
                self.status.pause_reasons[f"partition {p}"] = (
                    f"{domain}: checkpoint failed {self._persist_failures[p]}x: {reason}"
                )
                self.log.error("partition_paused", partition=p, reason=reason, domain=domain)
                if self.processor.name == "ingest" and self.status.lifecycle == "running":
                    self.status.set_lifecycle("degraded")
                    self.log.error("worker_degraded", lifecycle="degraded", domain=domain)

    def _resume_due(self) -> None:
        now = time.monotonic()
        for p, until in list(self._paused_until.items()):
            if now >= until and self.consumer is not None:
                del self._paused_until[p]
                self._persist_failures[p] = self.settings.runtime.persist_max_attempts - 1
                self.consumer.resume(self._input_partitions(p))
                self.log.info("partition_resumed", partition=p, domain="state")

    def _update_lag(self) -> None:
        """Position and lag per assigned partition, once a second, from cached watermarks."""
        now = time.monotonic()
        if self.consumer is None or now < self._lag_due:
            return
        self._lag_due = now + 1.0
        assigned = self.consumer.assignment()
        partitions = {}
        for tp in self.consumer.position(assigned) if assigned else []:
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            lag = max(0, high - tp.offset) if tp.offset >= 0 and high >= 0 else 0
            topic = self._topic_names.get(tp.topic, tp.topic)
            self.metrics.lag.labels(self.processor.name, topic, str(tp.partition)).set(lag)
            partitions[f"{topic}[{tp.partition}]"] = {"position": tp.offset, "lag": lag}
        self.status.partitions = partitions

    def _apply_backpressure(self) -> None:
        if self._downstream is None or self.consumer is None:
            return
        if self._gauge is None:
            self._gauge = BackpressureGauge(self.settings, self._downstream)
        change = self._gauge.check()
        if change is True:
            self.metrics.backpressure_pauses.labels(self.processor.name).inc()
            self.status.backpressure = (
                f"{self._downstream.reason}: lag {self._gauge.lag} > {self._downstream.high}"
            )
            self.log.info("backpressure_pause", lag=self._gauge.lag, bound=self._downstream.high)
        elif change is False:
            self.status.backpressure = ""
            failed = set(self._paused_until)  # partitions paused for a failure stay paused
            self.consumer.resume([tp for tp in self.consumer.assignment() if tp.partition not in failed])
            self.log.info("backpressure_resume", lag=self._gauge.lag, bound=self._downstream.low)
        if self._gauge.paused:
            self.consumer.pause(self.consumer.assignment())  # again after any rebalance

    def _input_partitions(self, partition: int) -> list[TopicPartition]:
        return [TopicPartition(self.settings.topic(t), partition) for t in self.spec.inputs]

    def _produce_changelogs(
        self,
    ) -> dict[tuple[str, int], tuple[dict[str, bytes | None], int | None]]:
        taken = {}
        for (store, partition), view in self._views.items():
            pending = view.take_changes()
            if not pending:
                continue
            source = max((o - 1 for (t, p), o in self._next_offsets.items() if p == partition), default=None)
            topic = self.settings.topic(self.spec.stores[store])
            headers = [(SOURCE_OFFSET_HEADER, str(source).encode())] if source is not None else []
            for key, value in pending.items():
                self._produce(topic, key.encode(), value, headers, partition=partition)
            taken[(store, partition)] = (pending, source)
        return taken

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
        for view in self._views.values():
            view.discard()
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
        reader = Consumer(clients.reader_config(self.settings)) if self.spec.stores else None
        try:
            for tp in partitions:
                source = self._open_stores(tp.partition, reader, committed.get((tp.topic, tp.partition), -1))
                if (
                    not self.eos
                    and source is not None
                    and source + 1 > committed.get((tp.topic, tp.partition), -1)
                ):
                    tp.offset = source + 1  # at-least-once: the store already holds this work
        finally:
            if reader is not None:
                reader.close()
        hook = getattr(self.processor, "assigned", None)
        if hook is not None:
            hook(sorted(tp.partition for tp in partitions))
        consumer.assign(partitions)

    def _open_stores(self, partition: int, reader: Consumer | None, committed: int) -> int | None:
        source: int | None = None
        for store, changelog in self.spec.stores.items():
            if store not in self.processor.stores or (store, partition) in self._stores:
                continue
            rt = self.settings.runtime
            path = Path(rt.state_dir) / self.group / store / str(partition)
            ps = PartitionStore(
                path,
                codec=getattr(self.processor, "store_codecs", {}).get(store),
                block_cache_mb=rt.rocksdb_block_cache_mb,
                write_buffer_mb=rt.rocksdb_write_buffer_mb,
            )
            assert reader is not None
            result = restore(
                ps,
                reader,
                self.settings.topic(changelog),
                partition,
                skip_source_offsets_from=committed if self.eos and committed >= 0 else None,
            )
            self.metrics.restore_seconds.labels(self.processor.name, store).observe(result.seconds)
            self.metrics.restore_records.labels(self.processor.name, store).inc(result.records)
            self.log.info(
                "store_restored",
                store=store,
                partition=partition,
                records=result.records,
                skipped=result.skipped,
                full_rebuild=result.full_rebuild,
                seconds=round(result.seconds, 3),
            )
            self._stores[(store, partition)] = ps
            self._views[(store, partition)] = StoreView(ps)
            stored_source = ps.meta("__meta__/source_offset")
            source = stored_source if source is None else min(source, stored_source or -1)
        return source

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.info("partitions_revoked", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        self._checkpoint()
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.log.warning("partitions_lost", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])
        if self._in_txn and self.eos and self.producer is not None:
            self.producer.abort_transaction(30)
        for view in self._views.values():
            view.discard()
        self._in_txn = False
        self._next_offsets.clear()
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for key in [k for k in self._stores if k[1] == tp.partition]:
                self._close_store(key)
        self.status.assignment = []

    def _close_store(self, key: tuple[str, int]) -> None:
        store = self._stores.pop(key, None)
        self._views.pop(key, None)
        if store is not None:
            store.close()  # releases the RocksDB LOCK for the next owner
