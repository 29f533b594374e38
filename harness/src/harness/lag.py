"""Consumer-group lag of the fleet's workers, read from outside the fleet: how the demo knows
it is done and the bench knows the fleet has drained."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.topology import Topology


class GroupLag:
    """Records each worker group has yet to process on its input topics (0 when caught up:
    workers commit past trailing transaction markers). Keeps one group-less reader per group,
    so measuring again costs only the offset requests."""

    def __init__(self, settings: FleetSettings, topology: Topology, workers: list[str] | None = None) -> None:
        self.settings = settings
        self.topology = topology
        self._consumers = {
            w: Consumer(clients.consumer_config(settings, settings.group(w)))
            for w in workers or topology.order()
        }

    def measure(self) -> dict[str, int]:
        lag = {}
        for worker, consumer in self._consumers.items():
            total = 0
            for t in self.topology.worker(worker).inputs:
                topic = self.settings.topic(t)
                parts = [TopicPartition(topic, p) for p in range(self.topology.topics[t].partitions)]
                for tp in consumer.committed(parts, timeout=10):
                    _low, high = consumer.get_watermark_offsets(tp, timeout=10)
                    total += max(0, high - max(tp.offset, 0))
            lag[worker] = total
        return lag

    def wait_drained(self, timeout_s: float) -> float:
        """Seconds until every group has caught up; TimeoutError after `timeout_s`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if not any(self.measure().values()):
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"the fleet had not drained after {timeout_s:.0f} s")

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()


def group_lag(settings: FleetSettings, topology: Topology) -> dict[str, int]:
    """GroupLag, measured once."""
    lag = GroupLag(settings, topology)
    try:
        return lag.measure()
    finally:
        lag.close()
