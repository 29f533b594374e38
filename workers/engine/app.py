"""Wires the engine core to Kafka: direct, bounded reads of market.buffer by ingest_seq."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.engine.hysteresis_store import STORE, HysteresisCodec
from workers.engine.processor import EngineProcessor, RunFailure
from workers.runtime import clients
from workers.runtime.records import Output, Record
from workers.runtime.retry import RetriesExhausted, retry
from workers.runtime.worker import Worker
from workers.state.store import StoreView
from workers.topology import Topology

FORWARD_SCAN = 2000  # records worth reading through rather than seeking past


class BufferReader:
    """Reads one market.buffer record by (partition, offset), with a small LRU cache and retries."""

    def __init__(
        self,
        settings: FleetSettings,
        serde: Serde,
        cache_size: int = 1024,
        on_retry: Callable[[str], None] = lambda _domain: None,
    ) -> None:
        self.topic = settings.topic("market.buffer")
        self.serde = serde
        self.policy = settings.retry_policy("buffer")
        self.on_retry = on_retry
        self.consumer = Consumer(clients.reader_config(settings))
        self.cache: OrderedDict[tuple[int, int], Mapping[str, Any]] = OrderedDict()
        self.cache_size = cache_size
        self._partition, self._position = -1, 0  # where the consumer stands

    def __call__(self, partition: int, offset: int) -> Mapping[str, Any]:
        key = (partition, offset)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            # RunFailure is final (deleted, not a record); anything else is transient.
            value = retry(
                self.policy,
                "buffer",
                lambda: self._read(partition, offset),
                retry_on=(RuntimeError, KafkaException),
                on_retry=self.on_retry,
            )
        except RetriesExhausted as exc:
            raise RunFailure(
                "buffer",
                "BUFFER_READ_FAILED",
                f"{self.topic}[{partition}]@{offset}: {exc.last}",
                exc.attempts,
            ) from exc
        self.cache[key] = value
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return value

    def _read(self, partition: int, offset: int) -> Mapping[str, Any]:
        """Read forward when the record is a little ahead of where the last read stopped
        (snapshots of one partition come in offset order); otherwise re-assign."""
        ahead = offset - self._position if self._partition == partition else -1
        if not 0 <= ahead <= FORWARD_SCAN:
            self.consumer.assign([TopicPartition(self.topic, partition, offset)])
            self._partition = partition
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=1, timeout=1.0):
                if msg.error() is not None:
                    raise RuntimeError(str(msg.error()))
                self._position = msg.offset() + 1
                if msg.offset() < offset:
                    continue
                if msg.offset() > offset:
                    self._partition = -1
                    raise self._missing(partition, offset)
                try:
                    return self.serde.decode(
                        "RawInputBufferRecord",
                        msg.value(),
                        topic=self.topic,
                        partition=partition,
                        offset=offset,
                    )
                except DecodeError as exc:
                    raise RunFailure("buffer", "UNDECODABLE", str(exc)) from exc
        self._partition = -1
        raise RuntimeError(f"timed out reading {self.topic}[{partition}]@{offset}")

    def _missing(self, partition: int, offset: int) -> RunFailure:
        """Why the record at `offset` is not there: deleted by retention, or never a record."""
        low, _high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10)
        if offset < low:
            where = f"{self.topic}[{partition}]@{offset}"
            return RunFailure(
                "buffer", "INPUT_DELETED", f"{where} is below the low watermark {low}: retention deleted it"
            )
        return RunFailure(
            "buffer", "NO_SUCH_RECORD", f"{self.topic}[{partition}]@{offset} is not a data record"
        )

    def close(self) -> None:
        self.consumer.close()


class TimedEngine(EngineProcessor):
    """The engine core with its run time exported (regime_fleet_engine_run_seconds)."""

    run_seconds: Any = None

    def process(self, record: Record, stores: Mapping[str, StoreView], now_ms: int) -> list[Output]:
        started = time.perf_counter()
        outputs = super().process(record, stores, now_ms)
        if outputs and self.run_seconds is not None:  # status records come back and do nothing
            self.run_seconds.observe(time.perf_counter() - started)
        return outputs


def build(settings: FleetSettings, topology: Topology) -> Worker:
    serde = Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
    reader = BufferReader(settings, serde)
    processor = TimedEngine(settings.engine, reader)
    processor.store_codecs = {STORE: HysteresisCodec(serde)}
    worker = Worker(settings, topology, processor, serde=serde, observe=lambda out: _observe(worker, out))
    reader.on_retry = lambda domain: worker.metrics.retries.labels(domain).inc()
    processor.run_seconds = worker.metrics.run_seconds
    return worker


def _observe(worker: Worker, out: Output) -> None:
    if out.topic == "engine.runs" and isinstance(out.value, Mapping):
        worker.metrics.runs.labels(out.value["status"]).inc()
    elif (
        isinstance(out.value, Mapping)
        and (out.value.get("hysteresis_decision") or {}).get("decision") == "SWITCH"
    ):
        worker.metrics.switches.inc()
