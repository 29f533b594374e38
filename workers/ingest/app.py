"""Wires the ingest core to Kafka: seeds each partition's dedupe window from market.buffer."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.ingest.processor import DLQ, IngestProcessor
from workers.runtime import clients
from workers.runtime.backpressure import Downstream
from workers.runtime.worker import Worker
from workers.topology import Topology


class IngestApp(IngestProcessor):
    def __init__(self, settings: FleetSettings, serde: Serde) -> None:
        super().__init__(
            settings.ingest,
            encode_buffered=lambda raw, rest: serde.encode_embedding("RawInputBufferRecord", raw, rest),
        )
        self.fleet = settings
        self.serde = serde

    def assigned(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.seed(partition, self._recent_event_ids(partition))

    def _recent_event_ids(self, partition: int) -> list[str]:
        """The event_ids of the last `dedupe_window` records of market.buffer[partition]."""
        size = self.settings.dedupe_window
        if size == 0:
            return []
        topic = self.fleet.topic("market.buffer")
        reader = Consumer(clients.reader_config(self.fleet))
        try:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                return []
            reader.assign([TopicPartition(topic, partition, max(low, high - size))])
            ids: list[str] = []
            while reader.position([TopicPartition(topic, partition)])[0].offset < high:
                for msg in reader.consume(num_messages=1000, timeout=0.5):
                    if msg.error() is None:
                        value = self.serde.decode("RawInputBufferRecord", msg.value())
                        ids.append(value["event"]["event_id"])
            return ids
        finally:
            reader.close()


def build(settings: FleetSettings, topology: Topology) -> Worker:
    serde = Serde(settings.kafka.schema_registry_url, settings.kafka.registry_config())
    app = IngestApp(settings, serde)
    capacity = settings.ingest.buffer_capacity
    downstream = (
        Downstream(
            settings.group("scheduler"),
            settings.topic("market.buffer"),
            capacity,
            capacity // 2,
            "scheduler lags on market.buffer",
        )
        if capacity
        else None
    )
    worker = Worker(settings, topology, app, serde=serde, dead_letter_topic=DLQ, downstream=downstream)
    app.on_duplicate = worker.metrics.duplicates.labels("ingest").inc
    return worker
