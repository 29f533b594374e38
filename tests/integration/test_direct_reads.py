"""Direct reads by offset (workers/runtime/direct_reads.py) on a real broker: reads that switch
between partitions on every call (as the engine's snapshot reads do), forward, backward, over
transaction markers and aborted records, with fewer cursors than partitions, all return the
record at the offset asked, and an offset that holds no record is a clear ReadError."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tests.samples import trade_event
from workers import clients
from workers.contracts import Serde
from workers.processing import NO_METRICS, ReadError
from workers.runtime import direct_reads
from workers.runtime.direct_reads import KafkaReads
from workers.topics import BUFFER
from workers.topology import load_topology

pytestmark = pytest.mark.integration
SERDE = Serde()


def _buffered(partition: int, n: int) -> dict[str, object]:
    event = trade_event(event_id=f"p{partition}-{n}", symbol=f"SYM{partition}")
    return {
        "event": event,
        "source_topic": "market.raw",
        "source_partition": partition,
        "source_offset": n,
        "ingest_ts_ms": 1,
        "correlation_id": f"c{n}",
    }


def _produce(settings, partitions: int, per_partition: int) -> dict[int, dict[int, str]]:
    """Records in transactions of 7 (an aborted one after each): offset -> event_id per partition."""
    producer = Producer(
        {**clients.base_config(settings), "transactional.id": f"{settings.topic_prefix}reads"}
    )
    producer.init_transactions(30)
    at: dict[int, dict[int, str]] = {p: {} for p in range(partitions)}

    def delivered(err, msg):  # type: ignore[no-untyped-def]
        assert err is None, err
        at[msg.partition()][msg.offset()] = SERDE.decode("RawInputBufferRecord", msg.value())["event"][
            "event_id"
        ]

    name = settings.topic(BUFFER)
    for first in range(0, per_partition, 7):
        producer.begin_transaction()
        for n in range(first, min(first + 7, per_partition)):
            for p in range(partitions):
                value = SERDE.encode("RawInputBufferRecord", _buffered(p, n))
                producer.produce(name, value, partition=p, on_delivery=delivered)
        producer.commit_transaction(30)
        producer.begin_transaction()
        producer.produce(name, SERDE.encode("RawInputBufferRecord", _buffered(0, -1)), partition=0)
        producer.flush(30)  # written, then aborted: in the log, never read (read_committed)
        producer.abort_transaction(30)
    producer.flush(30)
    return at


@pytest.mark.parametrize("cursors", [16, 1])
def test_interleaved_forward_and_backward_reads_return_the_record_asked(fleet_factory, monkeypatch, cursors):
    monkeypatch.setattr(direct_reads, "MAX_CURSORS", cursors)
    fleet = fleet_factory()
    settings = fleet.settings()
    at = _produce(settings, 2, 40)
    reads = KafkaReads(
        settings,
        load_topology(settings.partitions),
        SERDE,
        settings.retry_policy("buffer"),
        NO_METRICS,
        cache_size=0,
    )
    try:
        offsets = {p: sorted(at[p]) for p in at}
        assert len(offsets[0]) == len(offsets[1]) == 40
        for i in range(0, 40, 3):  # forward, switching partition on every read, skipping records
            for p in (1, 0):
                assert reads.get(BUFFER, p, offsets[p][i])["event"]["event_id"] == f"p{p}-{i}"
        for i in (30, 2, 39, 0):  # backward and forward again
            assert reads.get(BUFFER, 0, offsets[0][i])["event"]["event_id"] == f"p0-{i}"
        assert len(reads._cursors) == min(cursors, 2)
        marker = offsets[0][6] + 1  # after the first transaction: its commit marker, then the aborted record
        assert offsets[0][7] == marker + 3  # the commit marker, the aborted record, its marker
        for nothing in (marker, marker + 1):
            with pytest.raises(ReadError) as raised:
                reads.get(BUFFER, 0, nothing)
            assert raised.value.code == "NO_SUCH_RECORD"
        assert reads.get(BUFFER, 1, offsets[1][5])["event"]["event_id"] == "p1-5"  # still reads
    finally:
        reads.close()
