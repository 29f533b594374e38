"""Nautilus -> Kafka: TradingSignal entries become SignalEvents on signals.raw.

One step: XREADGROUP a batch (the consumer's own pending entries first after every (re)open,
so nothing read before a crash is lost), produce the SignalEvents and the dead letters in one
Kafka transaction, commit it, and only then XACK. A crash between commit and XACK re-reads
the entries and produces them again with the same signal_id (entries.signal_id).
"""

from __future__ import annotations

from typing import Any

import redis
from confluent_kafka import Producer

from workers.contracts import Serde
from workers.nautilus_bridge import entries
from workers.nautilus_bridge.metrics import BridgeMetrics
from workers.nautilus_bridge.settings import NautilusBridgeSettings
from workers.nautilus_bridge.snapshot import answer_snapshot
from workers.topics import FLEET_DLQ, SIGNALS

KAFKA_CALL_TIMEOUT_S = 10.0


class KafkaTransactionFailed(RuntimeError):
    """The transaction with a batch's SignalEvents did not commit: nothing was acked, the batch is read again."""


class SignalsIn:
    """Reads the nodes' signal streams with a consumer group and produces them transactionally."""

    def __init__(
        self,
        section: NautilusBridgeSettings,
        topic: Any,
        consumer: str,
        serde: Serde,
        producer: Producer,
        client: redis.Redis,
        metrics: BridgeMetrics,
        log: Any,
    ) -> None:
        self.section, self.topic, self.consumer, self.serde = section, topic, consumer, serde
        self.producer, self.client, self.metrics, self.log = producer, client, metrics, log
        self.streams = [
            entries.stream_key(t, f"data.{kind}*", section.streams_prefix)
            for t in section.trader_ids
            for kind in ("TradingSignal", "SnapshotRequest")
        ]
        self.cursor = "0"  # "0": our pending entries; ">": new ones

    def open(self) -> None:
        """Create the group on every stream (from its first entry) and re-read our pending entries."""
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.section.consumer_group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self.cursor = "0"

    def step(self) -> int:
        """One batch: read, produce, commit, ack. The number of entries handled."""
        block = None if self.cursor == "0" else self.section.block_ms
        reply: Any = self.client.xreadgroup(
            self.section.consumer_group,
            self.consumer,
            dict.fromkeys(self.streams, self.cursor),
            count=self.section.batch_size,
            block=block,
        )
        batch = [
            (s.decode(), eid.decode(), f) for s, found in reply or () for eid, f in found if f is not None
        ]
        if self.cursor == "0" and not batch:
            self.cursor = ">"
            return 0
        if not batch:
            return 0
        self.metrics.entries.labels("read").inc(len(batch))
        asks = self._produce(batch)
        pipe = self.client.pipeline(transaction=True)
        for stream in {s for s, _, _ in batch}:
            pipe.xack(stream, self.section.consumer_group, *[eid for s, eid, _ in batch if s == stream])
        pipe.execute()
        self.metrics.entries.labels("acked").inc(len(batch))
        for ask in asks:
            answer_snapshot(self.client, self.section, ask.requester, self.metrics)
        return len(batch)

    def _produce(self, batch: list[tuple[str, str, dict[bytes, bytes]]]) -> list[entries.SnapshotAsk]:
        asks: list[entries.SnapshotAsk] = []
        self.producer.begin_transaction()
        try:
            for stream, entry_id, fields in batch:
                try:
                    parsed = entries.parse_entry(fields, stream, entry_id)
                    if isinstance(parsed, entries.SnapshotAsk):
                        asks.append(parsed)
                        continue
                    # parse_entry has typed every field: fastavro's own checks while writing
                    # are enough (a full validate() cost a fifth of this direction's time).
                    value = self.serde.encode("SignalEvent", parsed, topic=self.topic(SIGNALS))
                except entries.MalformedEntry as bad:
                    self._dead_letter(bad, fields)
                    continue
                except Exception as exc:  # a SignalEvent the schema refuses
                    self._dead_letter(
                        entries.MalformedEntry("SCHEMA_INVALID", str(exc), stream, entry_id), fields
                    )
                    continue
                self.producer.produce(self.topic(SIGNALS), key=parsed["symbol"].encode(), value=value)
            self.producer.flush(KAFKA_CALL_TIMEOUT_S)
            self.producer.commit_transaction(KAFKA_CALL_TIMEOUT_S)
        except Exception as exc:
            try:
                self.producer.abort_transaction(KAFKA_CALL_TIMEOUT_S)
            finally:
                self.cursor = "0"
            raise KafkaTransactionFailed(f"signals.raw transaction of {len(batch)} entries: {exc}") from exc
        return asks

    def _dead_letter(self, bad: entries.MalformedEntry, fields: dict[bytes, bytes]) -> None:
        self.log.warning("entry_dead_lettered", stream=bad.stream, entry_id=bad.entry_id, error=bad.reason)
        self.metrics.entries.labels("dead_lettered").inc()
        self.producer.produce(
            self.topic(FLEET_DLQ),
            key=bad.entry_id.encode(),
            value=fields.get(b"payload", b""),
            headers={
                "error_code": bad.code,
                "error_message": bad.reason[:1000],
                "source_topic": bad.stream,
                "source_partition": "-1",
                "source_offset": bad.entry_id,
                "source_fields": ",".join(k.decode(errors="replace") for k in fields),
            },
        )
