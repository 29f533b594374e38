"""The bridge's pure entry codec: Nautilus-shaped fields both ways, ids, dead-letter reasons."""

from __future__ import annotations

import msgspec
import pytest

from tests.samples import regime_event
from workers.nautilus_bridge import entries, payloads

STREAM = entries.stream_key("TRADER-001", "data.TradingSignal*")


def signal_fields(**overrides: object) -> dict[bytes, bytes]:
    body = {
        **payloads.signal_payload(
            "s1", "AAA", 1, 10.5, 1_700_000_000_123_000_000, features={"ma_spread": 0.1}
        )
    }
    body.update(overrides)
    body = {k: (str(v) if k.startswith("ts_") else v) for k, v in body.items()}
    return {b"topic": b"data.TradingSignal*", b"payload": msgspec.msgpack.encode(body)}


def test_stream_key_is_what_a_default_node_writes() -> None:
    assert STREAM == "trader-TRADER-001:stream:data.TradingSignal*"


def test_a_trading_signal_entry_becomes_a_signal_event_with_an_id_from_the_entry() -> None:
    event = entries.parse_entry(signal_fields(), STREAM, "1-0")
    assert event == {
        "signal_id": entries.signal_id(STREAM, "1-0"),
        "strategy_id": "s1",
        "symbol": "AAA",
        "signal_ts_ms": 1_700_000_000_123,
        "direction": 1,
        "strength": 1.0,
        "price": 10.5,
        "features": {"ma_spread": 0.1},
    }
    assert (
        entries.signal_id(STREAM, "1-0")
        == entries.signal_id(STREAM, "1-0")
        != entries.signal_id(STREAM, "1-1")
    )


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({b"topic": b"x"}, "MISSING_FIELDS"),
        ({b"topic": b"x", b"payload": b"\xc1\xc1"}, "BAD_PAYLOAD"),
        (signal_fields(type="QuoteTick"), "WRONG_TYPE"),
        (signal_fields(direction=5), "BAD_PAYLOAD"),
        (signal_fields(price=-1.0), "BAD_PAYLOAD"),
        (signal_fields(symbol=7), "BAD_PAYLOAD"),
        (signal_fields(ts_event="soon"), "BAD_PAYLOAD"),
    ],
)
def test_malformed_entries_name_their_reason(fields: dict[bytes, bytes], code: str) -> None:
    with pytest.raises(entries.MalformedEntry) as caught:
        entries.parse_entry(fields, STREAM, "2-0")
    assert caught.value.code == code and caught.value.entry_id == "2-0" and caught.value.stream == STREAM


def test_a_missing_payload_field_of_a_signal_is_missing_fields() -> None:
    body = payloads.signal_payload("s1", "AAA", 1, 10.5, 1)
    del body["price"]
    fields = {b"topic": b"t", b"payload": msgspec.msgpack.encode({**body, "ts_event": "1", "ts_init": "1"})}
    with pytest.raises(entries.MalformedEntry, match="MISSING_FIELDS"):
        entries.parse_entry(fields, STREAM, "3-0")


def test_a_delivered_entry_puts_topic_and_payload_first_with_ts_as_strings() -> None:
    payload = payloads.decision_payload(regime_event(1_700_000_000_000, "BULL", 0.7, "AAA"), 1, 42, 5_000_000)
    fields = entries.encode_entry(payload, payloads.DECISION_TOPIC)
    assert list(fields) == ["topic", "payload", "type", "encoding"]  # Nautilus reads by position
    body = msgspec.msgpack.decode(fields["payload"])
    assert body["ts_event"] == str(1_700_000_000_000 * payloads.NS_PER_MS) and body["ts_init"] == "5000000"
    assert body["type"] == "RegimeDecision" and body["regime"] == "BULL" and body["kafka_offset"] == 42
    decoded = entries.decode_payload({k.encode(): v for k, v in fields.items()}, "s", "1-0")
    assert decoded["ts_event"] == 1_700_000_000_000 * payloads.NS_PER_MS


def test_json_encoding_round_trips() -> None:
    payload = payloads.decision_payload(regime_event(1, "BEAR", 0.6), 0, 1, 2)
    fields = entries.encode_entry(payload, payloads.DECISION_TOPIC, "json")
    assert entries.decode_payload({k.encode(): v for k, v in fields.items()}, "s", "1-0") == payload


def test_min_id_trims_by_age() -> None:
    assert entries.min_id(now_ms=10_000, retention_ms=3_000) == "7000-0"
    assert entries.min_id(now_ms=1_000, retention_ms=3_000) == "0-0"


def test_a_stored_latest_decision_comes_back_as_the_same_entry_fields() -> None:
    from workers.nautilus_bridge.snapshot import _fields, stored

    fields = entries.encode_entry(
        payloads.decision_payload(regime_event(1, "BULL", 0.6), 0, 1, 2), payloads.DECISION_TOPIC
    )
    back = _fields(stored(fields))
    assert back == fields and list(back) == list(fields)


def test_a_latest_decision_stored_as_its_payload_comes_back_as_its_entry_fields() -> None:
    from workers.nautilus_bridge.snapshot import decision_fields, stored

    fields = entries.encode_entry(
        payloads.decision_payload(regime_event(1, "BULL", 0.6), 0, 1, 2), payloads.DECISION_TOPIC
    )
    for value in (fields["payload"], stored(fields)):  # this bridge's, an older bridge's
        back = decision_fields(value, "msgpack")
        assert back == fields and list(back) == list(fields)
