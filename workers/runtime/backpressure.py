"""Kafka-native backpressure: pause consuming while a downstream group lags too far behind.

Lag stays in Kafka (upstream topics grow), never in a worker's memory, and nothing is
dropped. The bound has hysteresis: pause above `high`, resume at or below `low`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from workers import clients
from workers.config import FleetSettings


@dataclass
class Downstream:
    group: str  # the lagging consumer group (full name)
    topic: str  # the topic it consumes (full name)
    high: int  # pause when its lag (records) exceeds this
    low: int  # resume when it is at or below this
    reason: str


class BackpressureGauge:
    """Measures one downstream group's lag and says whether to pause."""

    def __init__(self, settings: FleetSettings, downstream: Downstream, interval_s: float = 0.5) -> None:
        self.downstream = downstream
        self.interval_s = interval_s
        # Same group id, never subscribed: it only reads the group's committed offsets.
        self._consumer = Consumer(clients.consumer_config(settings, downstream.group))
        self._partitions: list[TopicPartition] | None = None
        self._next = 0.0
        self.paused = False
        self.lag = 0
        self.error = ""  # the last failed measurement: the state stays as it was

    def check(self) -> bool | None:
        """True: pause now; False: resume now; None: no change (or not due)."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.interval_s
        try:
            self.lag = self.measure()
        except KafkaException as exc:  # e.g. a predecessor's open transaction, a broker restart
            self.error = str(exc)
            return None
        self.error = ""
        if not self.paused and self.lag > self.downstream.high:
            self.paused = True
            return True
        if self.paused and self.lag <= self.downstream.low:
            self.paused = False
            return False
        return None

    def measure(self) -> int:
        topic = self.downstream.topic
        if self._partitions is None:
            meta = self._consumer.list_topics(topic, timeout=2).topics[topic]
            self._partitions = [TopicPartition(topic, p) for p in meta.partitions]
        lag = 0
        for tp in self._consumer.committed(self._partitions, timeout=2):
            low, high = self._consumer.get_watermark_offsets(tp, timeout=2, cached=False)
            lag += max(0, high - max(tp.offset, low))
        return lag

    def close(self) -> None:
        self._consumer.close()
