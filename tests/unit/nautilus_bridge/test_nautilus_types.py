"""The Nautilus data types round-trip through Nautilus's own serializer (as a node's bus does)."""

from __future__ import annotations

import msgspec
from nautilus_trader.serialization.serializer import MsgSpecSerializer

from tests.samples import regime_event
from workers.nautilus_bridge import entries, payloads
from workers.nautilus_bridge.nautilus_types import RegimeDecision, TradingSignal


def test_a_bridge_entry_deserializes_to_a_regime_decision_as_a_node_reads_it() -> None:
    payload = payloads.decision_payload(regime_event(1_700_000_000_000, "BULL", 0.7, "AAA"), 1, 42, 5)
    fields = entries.encode_entry(payload, payloads.DECISION_TOPIC)
    node = MsgSpecSerializer(msgspec.msgpack, timestamps_as_str=True)  # a node's bus serializer
    decision = node.deserialize(fields["payload"])
    assert isinstance(decision, RegimeDecision)
    assert decision.ts_event == 1_700_000_000_000 * payloads.NS_PER_MS and decision.symbol == "AAA"
    assert decision.event_id == payload["event_id"]


def test_a_trading_signal_a_node_writes_parses_to_a_signal_event() -> None:
    body = payloads.signal_payload("s1", "AAA", -1, 9.0, 3_000_000, features={"ma_spread": 0.2})
    body.pop("type")
    raw = MsgSpecSerializer(msgspec.msgpack, timestamps_as_str=True).serialize(TradingSignal(**body))
    event = entries.parse_entry({b"topic": b"data.TradingSignal*", b"payload": raw}, "k", "9-0")
    assert isinstance(event, dict) and event["direction"] == -1 and event["signal_ts_ms"] == 3
