"""The checkpoint: one producer, its open transaction, and the protocol that makes a batch's
outputs, state changes and input offsets durable together.

Checkpoint protocol, exactly-once (one Kafka transaction per commit interval):
  1. Outputs of every processed record are produced inside the open transaction.
  2. Each store's pending changes go to its changelog, in the same transaction, each with
     a `source_offset` header naming the last input offset they reflect.
  3. The producer is flushed; any failed delivery aborts the checkpoint.
  4. The next input offsets are sent with the consumer group metadata, and the transaction
     commits. On any failure: abort, drop pending changes, and re-open every assigned
     partition from its committed offset (the worker's pending-partition path).
  5. Only after the commit are the changes written to RocksDB, with the changelog offset.
At-least-once mode keeps the order without a transaction: outputs are flushed (1, 3), then
the changelog (2, 3), then offsets are committed (4), then RocksDB is written (5).

Every blocking producer call is bounded (`runtime.kafka_call_timeout_s`), by a watchdog
where librdkafka does not honour its own timeout. A call that overruns, a failed abort or a
fatal producer error abandons the producer: a new one with the same transactional.id fences
the old one and aborts its transaction; until that succeeds the worker processes nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from workers.processing import Output, Record, dead_letter
from workers.processing.raw_batch import Encoded
from workers.runtime.context import RuntimeContext
from workers.runtime.stores import AssignedStores, Changes
from workers.state.changelog import SOURCE_OFFSET_HEADER

T = TypeVar("T")
PRODUCER_MAX_BYTES = 16 * 1024 * 1024  # the producer's own limit; topics may allow less
FLUSH_STEP_S = 0.25  # a checkpoint waiting on deliveries asks this often whether its transaction failed


class StuckCall(Exception):
    """A Kafka client call overran its bound: the client cannot be trusted any more."""


def bounded(call: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run `call` in a helper thread and wait at most `timeout_s` (+1 s) for it. The main
    thread stays interruptible (SIGTERM works) and never waits forever on a client."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"kafka-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    if thread.is_alive():
        raise StuckCall(f"{what} did not return within {timeout_s:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")  # type: ignore[return-value]


@dataclass
class Failure:
    """A checkpoint that did not commit: which partitions, which retry domain, why."""

    partitions: set[int]
    domain: str
    reason: str
    reset: bool = False  # the producer was abandoned: the outcome of the commit is unknown


@dataclass
class _Transaction:
    started: float = 0.0
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    delivery_errors: list[str] = field(default_factory=list)


class Checkpoint:
    def __init__(
        self, ctx: RuntimeContext, stores: AssignedStores, make_producer: Callable[[], Producer]
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.spec = ctx.spec
        self.metrics = ctx.metrics
        self.stores = stores
        self.eos = ctx.eos
        self.timeout_s = ctx.settings.runtime.kafka_call_timeout_s
        self._make_producer = make_producer
        self.limits: dict[str, int] = {}  # logical topic -> largest record it accepts
        self.producer: Producer | None = None
        self.txn: _Transaction | None = None
        self._changelog_offsets: dict[tuple[str, int], int] = {}
        self._children: dict[tuple[int, str], Any] = {}

    # -- the producer ------------------------------------------------------------------

    def connect(self) -> None:
        """A new producer; with EOS, init_transactions fences any predecessor with the same
        transactional.id and aborts its open transaction. Raises when the broker cannot say yes."""
        producer = self._make_producer()
        if self.eos:
            bounded(lambda: producer.init_transactions(self.timeout_s), self.timeout_s, "init_transactions")
        self.producer = producer

    def abandon(self) -> None:
        """Forget the producer (a call on it may still be blocked in another thread)."""
        self.producer = None
        self.txn = None
        self.stores.discard()
        self.metrics.client_resets.labels(self.spec.name).inc()

    # -- step 1 ------------------------------------------------------------------------

    def begin(self) -> None:
        if self.txn is not None:
            return
        assert self.producer is not None
        if self.eos:
            self.producer.begin_transaction()
        self.txn = _Transaction(started=time.monotonic())

    def advance(self, topic: str, partition: int, next_offset: int) -> None:
        """Record that every input of topic[partition] before next_offset is processed."""
        self.begin()
        assert self.txn is not None
        key = (topic, partition)
        self.txn.next_offsets[key] = max(next_offset, self.txn.next_offsets.get(key, 0))

    def emit(self, outputs: list[Output], record: Record | None = None) -> None:
        """Produce outputs. One too large for its topic is replaced by a dead letter of the
        record that caused it (OUTPUT_TOO_LARGE), never a crash."""
        self.begin()
        for out in outputs:
            value = self._encode(out)
            headers = out.header_pairs()
            size = len(value) + len(out.key or b"") + sum(len(k) + len(v) for k, v in headers)
            limit = self.limits.get(out.topic, PRODUCER_MAX_BYTES)
            if size > limit and record is not None and out.topic != self.spec.dead_letter:
                message = f"an output to {out.topic} would be {size} bytes; the topic accepts {limit}"
                self.emit([dead_letter(record, self.spec.dead_letter, "OUTPUT_TOO_LARGE", message)])
                self.count_dead_letter("OUTPUT_TOO_LARGE")
                continue
            key = out.key.encode() if isinstance(out.key, str) else out.key
            kwargs: dict[str, Any] = {} if out.partition is None else {"partition": out.partition}
            self._produce(self.settings.topic(out.topic), key, value, headers, track=not self.eos, **kwargs)
            self.counter(self.metrics.produced, out.topic).inc()

    def emit_encoded(self, outputs: Sequence[Encoded]) -> None:
        """Produce outputs a core's batch hook encoded, each within its topic's limit (the hook
        checked): what emit does, without the per-output work."""
        self.begin()
        names: dict[str, str] = {}
        for topic, key, value, headers, partition in outputs:
            name = names.get(topic) or names.setdefault(topic, self.settings.topic(topic))
            self._produce(name, key, value, headers, track=not self.eos, partition=partition)
        for topic, n in Counter(o[0] for o in outputs).items():
            self.counter(self.metrics.produced, topic).inc(n)

    def count_dead_letter(self, code: str) -> None:
        self.metrics.dead_letters.labels(self.spec.name, code).inc()

    def _encode(self, out: Output) -> bytes:
        if isinstance(out.value, bytes):
            return out.value
        schema = self.ctx.topology.topics[out.topic].value_schema
        assert schema is not None, f"{out.topic} has no value schema"
        return self.ctx.serde.encode(schema, out.value, topic=self.settings.topic(out.topic))

    def counter(self, metric: Any, topic: str) -> Any:
        """Per-topic metric children, cached: labels() costs more than the increment."""
        key = (id(metric), topic)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.spec.name, topic)
        return child

    def _produce(
        self,
        topic: str,
        key: bytes | None,
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
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, **kwargs)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise StuckCall(f"the producer queue stayed full for {self.timeout_s:.0f} s") from None
                self.producer.poll(0.05)  # local queue full: wait for deliveries, never drop

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            if self.txn is not None:
                self.txn.delivery_errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        key = (msg.topic(), msg.partition())
        if self._changelog_offsets.get(key, -1) < msg.offset():
            self._changelog_offsets[key] = msg.offset()

    # -- steps 2-5 ---------------------------------------------------------------------

    def due(self, *, drained: bool = False) -> bool:
        """The open checkpoint has reached the commit interval, or the input is drained (nothing
        arrived for `commit_idle_ms`): committing now costs no throughput, and waiting out the
        interval while idle would only delay what the batch produced."""
        if self.txn is None:
            return False
        return self.due_in() <= 0 or (drained and self.settings.runtime.commit_idle_ms > 0)

    def idle_s(self) -> float:
        """How long to wait for input before calling it drained (inf with nothing to commit)."""
        idle = self.settings.runtime.commit_idle_ms
        return idle / 1000 if self.txn is not None and idle > 0 else float("inf")

    def due_in(self) -> float:
        """Seconds until the open checkpoint is due (inf with none open)."""
        if self.txn is None:
            return float("inf")
        interval = self.settings.runtime.commit_interval_ms / 1000
        return max(0.0, self.txn.started + interval - time.monotonic())

    def commit(self, consumer: Consumer, injected: dict[str, set[int]]) -> Failure | None:
        """Steps 2-5 (step 1 happened while processing). None: committed (or nothing to do)."""
        txn = self.txn
        if txn is None:
            return None
        started = time.perf_counter()
        offsets = [TopicPartition(t, p, o) for (t, p), o in txn.next_offsets.items()]
        batch = {tp.partition for tp in offsets} | self.stores.dirty()
        domain = self.spec.checkpoint_domain
        for kind, faulted in injected.items():
            if faulted:
                return self.abort(Failure(faulted, kind, f"injected {kind} fault"))
        try:
            if not self.eos:
                self._flush(txn, "outputs")  # at-least-once: outputs durable before the changelog
            changes, sources = self._produce_changelogs(txn)  # step 2
            if changes:
                domain = "state"
            self._flush(txn, "outputs and changelog")  # step 3
            assert self.producer is not None
            producer = self.producer
            if self.eos:  # step 4
                group = consumer.consumer_group_metadata()
                t = self.timeout_s

                def step4() -> None:
                    producer.send_offsets_to_transaction(offsets, group, t)
                    producer.commit_transaction(t)

                bounded(step4, t, "send_offsets and commit_transaction")  # one watchdog thread
            elif offsets:
                bounded(
                    lambda: consumer.commit(offsets=offsets, asynchronous=False), self.timeout_s, "commit"
                )
        except StuckCall as exc:
            return self.abort(Failure(batch, domain, str(exc), reset=True))
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            fatal = error is not None and error.fatal()
            return self.abort(Failure(batch, domain, str(exc), reset=fatal))
        except (SystemError, RuntimeError) as exc:
            # The client itself misbehaved (seen: SystemError from flush after a fencing during a
            # broker stop): the producer cannot be trusted; a new one fences it.
            return self.abort(Failure(batch, domain, f"{type(exc).__name__}: {exc}", reset=True))
        self.stores.apply(changes, self._changelog_offsets, sources)  # step 5
        self.txn = None
        self.metrics.checkpoint_seconds.labels(self.spec.name).observe(time.perf_counter() - started)
        return None

    def _flush(self, txn: _Transaction, what: str) -> None:
        assert self.producer is not None
        deadline = time.monotonic() + self.timeout_s
        undelivered = self.producer.flush(min(FLUSH_STEP_S, self.timeout_s))
        while undelivered and time.monotonic() < deadline:
            self._raise_if_abortable()
            undelivered = self.producer.flush(min(FLUSH_STEP_S, max(deadline - time.monotonic(), 0.0)))
        if undelivered:
            txn.delivery_errors.append(f"{undelivered} {what} undelivered after {self.timeout_s:.0f} s")
        if txn.delivery_errors:
            raise KafkaException(KafkaError(KafkaError._FAIL, "; ".join(txn.delivery_errors[:3])))

    def _raise_if_abortable(self) -> None:
        """An EOS transaction that can no longer commit (seen after a broker restart: a sequence
        gap that needs an epoch bump) holds its outputs back until aborted, and librdkafka says
        so only at the next transactional call, not to a flush: begin_transaction() is one that
        changes nothing while a transaction is open, so ask it instead of waiting out the bound."""
        if not self.eos or self.producer is None:
            return
        try:
            self.producer.begin_transaction()
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and (error.txn_requires_abort() or error.fatal()):
                raise

    def _produce_changelogs(self, txn: _Transaction) -> tuple[Changes, dict[int, int | None]]:
        changes = self.stores.take_changes()
        sources: dict[int, int | None] = {}
        for (store, partition), pending in changes.items():
            source = max((o - 1 for (_, p), o in txn.next_offsets.items() if p == partition), default=None)
            sources[partition] = source
            headers = [(SOURCE_OFFSET_HEADER, str(source).encode())] if source is not None else []
            topic = self.stores.changelog(store)
            for key, value in pending.items():
                self._produce(topic, key.encode(), value, headers, track=True, partition=partition)
        return changes, sources

    def abort(self, failure: Failure) -> Failure:
        """Abort the open transaction and drop pending state. An abort that cannot finish
        abandons the producer instead (failure.reset): the next one fences it."""
        self.metrics.checkpoint_aborts.labels(self.spec.name).inc()
        self.stores.discard()
        producer, self.txn = self.producer, None
        if self.eos and producer is not None and not failure.reset:
            t = self.timeout_s
            try:
                bounded(lambda: producer.abort_transaction(t), t, "abort_transaction")
            except (KafkaException, StuckCall) as exc:
                failure.reset = True
                failure.reason += f"; abort failed: {exc}"
        if failure.reset:
            self.abandon()
        return failure
