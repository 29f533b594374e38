"""Kafka -> Nautilus: regime.events and signals.enriched (read_committed) become RegimeDecision
and EnrichedSignal entries on the delivery stream.

The offsets delivered are kept in Redis, in the same MULTI/EXEC as the batch's XADDs, and
every (re)open assigns the partitions from them: a restart, or a Redis error whose EXEC may or
may not have applied, resumes exactly after the last delivered record. Each XADD trims the
stream by age (MINID ~ now - retention).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from workers.contracts import DecodeError, Serde
from workers.nautilus_bridge import entries, payloads
from workers.nautilus_bridge.metrics import BridgeMetrics
from workers.nautilus_bridge.settings import NautilusBridgeSettings
from workers.nautilus_bridge.snapshot import latest_key, offsets_key, stored
from workers.runtime.reader import take
from workers.topics import ENRICHED, EVENTS

LIST_TIMEOUT_S = 10.0
SOURCES = {
    EVENTS: ("OrchestratorEvent", payloads.DECISION_TOPIC),
    ENRICHED: ("EnrichedSignalEvent", payloads.ENRICHED_TOPIC),
}


class Deliveries:
    """Consumes the fleet's decisions and enriched signals; XADDs them with their offsets."""

    def __init__(
        self,
        section: NautilusBridgeSettings,
        topic: Callable[[str], str],
        serde: Serde,
        consumer: Consumer,
        client: redis.Redis,
        metrics: BridgeMetrics,
        log: Any,
    ) -> None:
        self.section, self.topic, self.serde, self.consumer = section, topic, serde, consumer
        self.client, self.metrics, self.log = client, metrics, log
        self.names = {topic(t): t for t in SOURCES}

    def open(self) -> None:
        """Assign every partition of both topics at the offset after its last delivered record."""
        stored_offsets: dict[Any, Any] = self.client.hgetall(offsets_key(self.section))
        delivered = {k.decode(): int(v) for k, v in stored_offsets.items()}
        assignment = []
        for full in self.names:
            meta = self.consumer.list_topics(full, timeout=LIST_TIMEOUT_S).topics[full]
            for p in sorted(meta.partitions):
                assignment.append(TopicPartition(full, p, delivered.get(f"{full}:{p}", OFFSET_BEGINNING)))
        self.consumer.assign(assignment)

    def step(self) -> int:
        """One batch: consume what is fetched, XADD it with its offsets in one transaction."""
        fetched = take(self.consumer, self.section.batch_size, self.section.poll_timeout_ms / 1000)
        messages = [m for m in fetched if m.error() is None]
        if not messages:
            return 0
        now_ms = int(time.time() * 1000)
        trim = entries.min_id(now_ms, self.section.retention_ms)
        pipe = self.client.pipeline(transaction=True)
        offsets: dict[Any, Any] = {}
        kinds: dict[str, int] = {}
        for m in messages:
            offsets[f"{m.topic()}:{m.partition()}"] = m.offset() + 1
            source = self.names[m.topic()]
            schema, bus_topic = SOURCES[source]
            try:
                value = self.serde.decode(schema, m.value(), topic=m.topic())
            except DecodeError as exc:
                self.log.warning(
                    "record_undecodable",
                    topic=m.topic(),
                    partition=m.partition(),
                    offset=m.offset(),
                    error=str(exc),
                )
                continue
            ts_ns = m.timestamp()[1] * payloads.NS_PER_MS
            build = payloads.decision_payload if source == EVENTS else payloads.enriched_payload
            payload = build(value, m.partition(), m.offset(), ts_ns)
            fields = entries.encode_entry(payload, bus_topic, self.section.encoding)
            pipe.xadd(self.section.delivery_stream, fields, minid=trim, approximate=True)
            if source == EVENTS:
                pipe.hset(latest_key(self.section), payload["symbol"], stored(fields))
            kinds[payload["type"]] = kinds.get(payload["type"], 0) + 1
        pipe.hset(offsets_key(self.section), mapping=offsets)
        pipe.execute()
        done = time.time()
        for m in messages:
            self.metrics.delivery_lag.observe(max(done - m.timestamp()[1] / 1000, 0.0))
        for kind, n in kinds.items():
            self.metrics.delivered.labels(kind).inc(n)
        return len(messages)
