"""Bad records land in market.raw.dlq with their reasons while good ones flow."""

from __future__ import annotations

import copy

import pytest
from confluent_kafka import Producer

from harness.demo.data import synthetic_intraday
from workers import clients

pytestmark = pytest.mark.integration


def test_bad_records_are_dead_lettered_and_good_ones_flow(fleet_factory):
    fleet = fleet_factory()
    good = synthetic_intraday(2, 130)
    trade = next(e for e in good if e["kind"] == "TRADE")
    bar = next(e for e in good if e["kind"] == "BAR")

    def variant(base, event_id, **changes):
        e = copy.deepcopy(base)
        e["event_id"] = event_id
        for path, value in changes.items():
            target = e
            *parents, leaf = path.split("__")
            for p in parents:
                target = target[p]
            target[leaf] = value
        return e

    bad = {
        "NON_POSITIVE_PRICE": variant(trade, "b1", trade__price=-1.0),
        "NON_FINITE": variant(trade, "b2", trade__price=float("inf")),
        "NEGATIVE_SIZE": variant(trade, "b3", trade__size=-5.0),
        "HIGH_BELOW_LOW": variant(bar, "b4", bar__high=1.0, bar__low=2.0),
        "EMPTY_SYMBOL": variant(trade, "b5", symbol=""),
        "KIND_MISMATCH": variant(trade, "b6", kind="QUOTE"),
        "TIMESTAMP_OUT_OF_RANGE": variant(trade, "b7", event_ts_ms=1),
    }
    s = fleet.settings()
    from workers.contracts import Serde

    serde = Serde()
    producer = Producer(clients.producer_config(s, None))
    for e in bad.values():
        producer.produce(s.topic("market.raw"), serde.encode("RawMarketEvent", e), b"SYN000")
    producer.produce(s.topic("market.raw"), b"not avro at all", b"SYN000")
    producer.flush(10)
    duplicate = copy.deepcopy(good[:5])
    fleet.produce("market.raw", good + duplicate)
    fleet.start("ingest")

    dlq = fleet.consume("market.raw.dlq", len(bad) + 1, timeout=60)
    codes = sorted(r["headers"]["error_code"] for r in dlq)
    assert codes == sorted([*bad, "UNDECODABLE"])
    for r in dlq:
        assert r["headers"]["error_message"]
        assert r["headers"]["source_topic"] == "market.raw"
        assert int(r["headers"]["source_offset"]) >= 0
    buffered = fleet.consume("market.buffer", len(good), timeout=60)
    assert len(buffered) == len(good), "duplicates were not dropped or good records were lost"
    assert sorted(r["value"]["event"]["event_id"] for r in buffered) == sorted(e["event_id"] for e in good)
