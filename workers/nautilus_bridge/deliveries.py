"""Kafka -> Nautilus: regime.events and signals.enriched (read_committed) become RegimeDecision
and EnrichedSignal entries on the delivery stream.

The offsets delivered are kept in Redis, written by the same script as the batch's XADDs (a
Lua script runs atomically, as a MULTI/EXEC would, and costs 3 arguments a record instead of
14), and every (re)open assigns the partitions from them: a restart, or a Redis error whose
script may or may not have run, resumes exactly after the last delivered record. Each XADD
trims the stream by age (MINID ~ now - retention).
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
from workers.nautilus_bridge.snapshot import latest_key, offsets_key
from workers.runtime.reader import take
from workers.topics import ENRICHED, EVENTS

LIST_TIMEOUT_S = 10.0
SOURCES = {
    EVENTS: ("OrchestratorEvent", payloads.DECISION_TOPIC),
    ENRICHED: ("EnrichedSignalEvent", payloads.ENRICHED_TOPIC),
}
# KEYS: the delivery stream, the latest-decision hash, the offsets hash. ARGV: MINID, encoding,
# the number of offset pairs, the pairs, then per record: d (decision) or s, payload, symbol.
DELIVER = f"""
local minid, encoding, pairs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local topics = {{d = '{payloads.DECISION_TOPIC}', s = '{payloads.ENRICHED_TOPIC}'}}
local types = {{d = '{payloads.DECISION_TYPE}', s = '{payloads.ENRICHED_TYPE}'}}
local first = 4 + 2 * pairs
for i = first, #ARGV, 3 do
  local kind = ARGV[i]
  redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*',
    'topic', topics[kind], 'payload', ARGV[i + 1], 'type', types[kind], 'encoding', encoding)
  if kind == 'd' then redis.call('HSET', KEYS[2], ARGV[i + 2], ARGV[i + 1]) end
end
if pairs > 0 then redis.call('HSET', KEYS[3], unpack(ARGV, 4, first - 1)) end
return (#ARGV - first + 1) / 3
"""


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
        self.deliver = client.register_script(DELIVER)
        self.keys = [section.delivery_stream, latest_key(section), offsets_key(section)]

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
        offsets: dict[str, int] = {}
        records: list[Any] = []
        kinds: dict[str, int] = {}
        for m in messages:
            offsets[f"{m.topic()}:{m.partition()}"] = m.offset() + 1
            source = self.names[m.topic()]
            try:
                value = self.serde.decode(SOURCES[source][0], m.value(), topic=m.topic())
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
            raw = entries.encode_payload(payload, self.section.encoding)
            records += ("d" if source == EVENTS else "s", raw, payload["symbol"])
            kinds[payload["type"]] = kinds.get(payload["type"], 0) + 1
        pairs = [x for kv in offsets.items() for x in kv]
        args: list[Any] = [
            entries.min_id(now_ms, self.section.retention_ms),
            self.section.encoding,
            len(offsets),
        ]
        self.deliver(keys=self.keys, args=args + pairs + records)
        done = time.time()
        for m in messages:
            self.metrics.delivery_lag.observe(max(done - m.timestamp()[1] / 1000, 0.0))
        for kind, n in kinds.items():
            self.metrics.delivered.labels(kind).inc(n)
        return len(messages)
