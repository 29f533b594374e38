"""Admission validates exactly as `regime-fleet produce` does: the same function, the same
verdicts, plus the field each refusal is about."""

from __future__ import annotations

import json

import pytest

from tests.samples import trade_event
from workers.api.admission import Invalid, prepare
from workers.config import load_settings
from workers.contracts import ContractError, Serde
from workers.contracts.lines import encode_line
from workers.ingest.settings import IngestSettings

CASES = [
    (trade_event(event_ts_ms="soon"), "SCHEMA_INVALID", "event_ts_ms"),
    (trade_event(source=None), "SCHEMA_INVALID", "source"),
    (trade_event(trade={"price": -1.0, "size": 1.0, "side": "BUY"}), "NON_POSITIVE_PRICE", "trade.price"),
    (trade_event(symbol="  "), "EMPTY_SYMBOL", "symbol"),
    (trade_event(kind="BAR"), "KIND_MISMATCH", "kind"),
    (trade_event(event_ts_ms=1), "TIMESTAMP_OUT_OF_RANGE", "event_ts_ms"),
]


@pytest.mark.parametrize(("event", "code", "field"), CASES)
def test_refusals_match_produce_and_name_the_field(event, code, field):
    settings, serde = load_settings(), Serde()
    line = json.dumps(event)
    with pytest.raises(ContractError) as produce_says:
        encode_line(
            line,
            "RawMarketEvent",
            serde,
            min_ts_ms=IngestSettings.of(settings).min_event_ts_ms,
            max_ts_ms=IngestSettings.of(settings).max_event_ts_ms,
        )
    with pytest.raises(Invalid) as api_says:
        prepare([(line, event)], settings, serde)
    (problem,) = api_says.value.problems
    assert (problem.code, problem.field, problem.index) == (code, field, 0)
    assert problem.message == str(produce_says.value)


def test_a_batch_is_refused_whole_naming_every_bad_event():
    events = [
        trade_event(event_id="a"),
        trade_event(event_id="b", kind="NOPE"),
        trade_event(event_id="c", symbol=""),
    ]
    with pytest.raises(Invalid) as refused:
        prepare([(json.dumps(e), e) for e in events], load_settings(), Serde())
    assert [(p.index, p.event_id, p.code) for p in refused.value.problems] == [
        (1, "b", "SCHEMA_INVALID"),
        (2, "c", "EMPTY_SYMBOL"),
    ]


def test_valid_events_are_encoded_keyed_by_symbol():
    (prepared,) = prepare([(json.dumps(trade_event()), trade_event())], load_settings(), Serde())
    assert (prepared.symbol, prepared.event_id, prepared.record.key) == ("S", "e1", b"S")
    assert ("event_type", b"TRADE") in prepared.record.headers
