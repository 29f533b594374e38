"""The measurements: a raw consume->produce copy, the ingest worker, and the whole fleet."""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections import defaultdict

from confluent_kafka import Consumer, Producer, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.runtime.reader import take


def wait_for(
    settings: FleetSettings,
    topic: str,
    partitions: int,
    expected: int,
    timeout: float,
    *,
    from_first: bool = False,
) -> float:
    """Seconds until `expected` committed records are readable on `topic`; with `from_first`,
    counted from the first one seen (so start-up and group joins are left out)."""
    consumer = Consumer(clients.consumer_config(settings, f"bench-wait-{uuid.uuid4().hex[:6]}"))
    consumer.assign([TopicPartition(settings.topic(topic), p, 0) for p in range(partitions)])
    started, n = time.monotonic(), 0
    first: float | None = None
    try:
        while n < expected and time.monotonic() - started < timeout:
            got = sum(1 for m in consumer.consume(5000, 0.05) if m.error() is None)
            if got and first is None:
                first = time.monotonic()
            n += got
    finally:
        consumer.close()
    if n < expected:
        raise TimeoutError(f"only {n}/{expected} records on {topic} after {timeout}s")
    return time.monotonic() - (first if from_first and first is not None else started)


def produce_encoded(settings: FleetSettings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce pre-encoded (key, value) records as fast as the client allows."""
    producer = Producer(clients.producer_config(settings, None))
    for key, value in records:
        while True:
            try:
                producer.produce(settings.topic(topic), value, key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def raw_copy(settings: FleetSettings, source: str, target: str, expected: int) -> float:
    """The baseline: minimal consume -> produce in transactions, same batch and commit settings."""
    rt = settings.runtime
    consumer = Consumer(clients.consumer_config(settings, f"{settings.topic_prefix}bench-raw"))
    producer = Producer(
        clients.producer_config(settings, f"{settings.topic_prefix}bench-raw-{uuid.uuid4().hex[:6]}")
    )
    producer.init_transactions(30)
    consumer.subscribe([settings.topic(source)])
    copied, started, in_txn, txn_started = 0, None, False, 0.0
    while copied < expected:
        msgs = consumer.consume(rt.batch_size, rt.poll_timeout_ms / 1000)
        for m in msgs:
            if m.error() is not None:
                continue
            if started is None:
                started = time.monotonic()
            if not in_txn:
                producer.begin_transaction()
                in_txn, txn_started = True, time.monotonic()
            producer.produce(
                settings.topic(target), m.value(), m.key(), headers=m.headers(), partition=m.partition()
            )
            copied += 1
        if in_txn and (
            (time.monotonic() - txn_started) * 1000 >= rt.commit_interval_ms or copied >= expected
        ):
            producer.send_offsets_to_transaction(
                consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30
            )
            producer.commit_transaction(30)
            in_txn = False
    consumer.close()
    assert started is not None
    return time.monotonic() - started


class LatencyProbe:
    """Measures produce -> regime.events per run: `sent` is filled by the load generator."""

    def __init__(self, settings: FleetSettings, partitions: int) -> None:
        self.settings = settings
        self.partitions = partitions
        self.sent: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.samples: list[tuple[float, float]] = []  # (when the closing record was sent, latency)
        self.run_ids: list[str] = []  # every EngineRunStarted seen, duplicates included
        self.received = 0
        self._stop = threading.Event()

    def listen(self) -> threading.Thread:
        def loop() -> None:
            serde = Serde()
            consumer = Consumer(
                clients.consumer_config(
                    self.settings,
                    f"bench-lat-{uuid.uuid4().hex[:6]}",
                    **{"auto.offset.reset": "latest", "fetch.wait.max.ms": 5},
                )
            )
            consumer.subscribe([self.settings.topic("regime.events")])
            while not self._stop.is_set():
                for m in take(consumer, 1000, 0.05):
                    if m.error() is not None:
                        continue
                    now = time.time()
                    v = serde.decode("OrchestratorEvent", m.value())
                    if v["event_type"] != "EngineRunStarted":
                        self.received += 1
                        continue
                    self.run_ids.append(v["run_id"])
                    sent = self.sent.get(v["symbol"], [])
                    i = bisect.bisect_left(sent, (v["engine_timestamp_ms"], 0.0))
                    if i < len(sent):
                        self.samples.append((sent[i][1], now - sent[i][1]))
            consumer.close()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def latencies(self, sent_from: float = 0.0, sent_to: float = float("inf")) -> list[float]:
        """Latencies (s) of the runs whose closing record was sent in [sent_from, sent_to]."""
        return [latency for sent, latency in self.samples if sent_from <= sent <= sent_to]

    def stop(self) -> None:
        self._stop.set()
