"""As-of questions and the bulk join: times parsed, bad rows answered with their line number,
the rest of the file answered."""

from __future__ import annotations

import json

import pytest

from tests.samples import result_event
from workers.api.asof import BadQuery, parse_time, question
from workers.api.asof_bulk import LineSplitter, asof_join, lines_of
from workers.api.history import VersionedTable, fold_regime_event

NOW = 1_800_000_000_000


def completed(ts: int, regime: str) -> dict:
    event = result_event(ts, "EngineRunCompleted", "S")
    event["regime_output"] = {"regime": regime, "confidence": 0.8, "features": {}, "reason_codes": []}
    return event


def tables() -> dict[str, VersionedTable]:
    regime = VersionedTable()
    fold_regime_event(regime, result_event(100, "EngineRunStarted", "S"), 0, 0, 1_000)
    fold_regime_event(regime, completed(100, "RANGE"), 0, 1, 1_001)
    fold_regime_event(regime, completed(200, "TREND_UP"), 0, 2, 5_000)
    return {"regime": regime, "signal": VersionedTable()}


def test_times_are_epoch_ms_or_iso_8601():
    assert parse_time("1700000000000", "as_of") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20Z", "as_of") == 1_700_000_000_000
    assert parse_time("2023-11-14T23:13:20+01:00", "as_of") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20", "as_of") == 1_700_000_000_000  # UTC
    with pytest.raises(BadQuery) as bad:
        parse_time("yesterday", "as_of")
    assert bad.value.code == "INVALID_TIME"


def test_future_times_are_refused():
    with pytest.raises(BadQuery) as bad:
        question("S", NOW + 1, None, NOW)
    assert bad.value.code == "AS_OF_IN_FUTURE"
    with pytest.raises(BadQuery) as bad:
        question("S", NOW, NOW + 1, NOW)
    assert bad.value.code == "KNOWN_AT_IN_FUTURE"


def test_csv_join_answers_every_row_and_names_bad_lines():
    body = b"symbol,as_of,known_at\nS,150,\nS,250,4000\nS,250,\nX,250,\nS,nope,\nS,50,\nS,250,500\n"
    out = list(asof_join([body], tables(), fmt="csv", now_ms=NOW))
    rows = [line.rstrip("\n").split(",") for line in out]
    header = rows[0]
    got = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [r["line"] for r in got] == ["2", "3", "4", "5", "6", "7", "8"]
    assert [r["regime"] or r["error"] for r in got] == [
        "RANGE",
        "RANGE",  # TREND_UP was published at 5000, after known_at
        "TREND_UP",
        "UNKNOWN_SYMBOL",
        "INVALID_TIME",
        "NO_DECISION_AS_OF",
        "NOT_PUBLISHED_BY_KNOWN_AT",
    ]
    assert got[2]["chain_position"] == "2" and got[0]["chain_position"] == "1"


def test_jsonl_join_streams_in_chunks_and_answers_a_bad_line_alone():
    body = b'{"symbol":"S","as_of":250}\nnot json\n{"symbol":"S","as_of":"1970-01-01T00:00:00.150Z"}'
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    out = [json.loads(line) for line in asof_join(chunks, tables(), fmt="jsonl", now_ms=NOW)]
    assert [(o["line"], o.get("regime") or o["error"]) for o in out] == [
        (1, "TREND_UP"),
        (2, "INVALID_JSON"),
        (3, "RANGE"),
    ]


def test_a_line_too_long_is_one_error_and_memory_stays_bounded():
    splitter = LineSplitter(max_line_bytes=10)
    lines = list(splitter.feed(b"short\n" + b"x" * 100)) + list(splitter.feed(b"y" * 100 + b"\nok\n"))
    assert lines == [(1, "short"), (2, None), (3, "ok")]
    assert len(splitter.buffer) == 0
    assert list(lines_of([b"a\r\nb"])) == [(1, "a"), (2, "b")]


def test_a_body_not_in_its_format_is_refused_whole_on_its_first_line():
    with pytest.raises(BadQuery) as bad:
        list(asof_join([b"\nsym,t\nS,1\n"], tables(), fmt="csv", now_ms=NOW))
    assert bad.value.code == "INVALID_HEADER"
    with pytest.raises(BadQuery) as bad:
        list(asof_join([b"symbol,as_of\n"], tables(), fmt="jsonl", now_ms=NOW))
    assert bad.value.code == "INVALID_JSON"
    # A first JSON object with a bad question is one bad row, not a bad body.
    out = list(
        asof_join([b'{"symbol": "S"}\n{"symbol": "S", "as_of": 150}\n'], tables(), fmt="jsonl", now_ms=NOW)
    )
    assert [json.loads(o).get("error") for o in out] == ["MISSING_AS_OF", None]


def test_a_row_the_csv_reader_cannot_read_is_one_bad_row():
    out = list(asof_join([b"symbol,as_of\nS,1\ra\nS,150\n"], tables(), fmt="csv", now_ms=NOW))
    assert "INVALID_ROW" in out[1] and out[1].startswith("2,") and ",RANGE," in out[2]
    with pytest.raises(BadQuery) as bad:
        list(asof_join([b"*=a?t\ru\n"], tables(), fmt="csv", now_ms=NOW))
    assert bad.value.code == "INVALID_HEADER"
