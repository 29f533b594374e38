"""Property: the bulk join answered a chunk of lines at a time gives the bytes the one-line path
(`BulkJoin.row`, the reference) gives, line for line: on random bodies with bad rows, unknown
symbols, times in every form, known_at before the first publication, past retention."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.samples import result_event
from workers.api import asof, asof_bulk
from workers.api.asof import NO_TIME, BadQuery, fast_times, parse_time
from workers.api.asof_bulk import MAX_LINE_BYTES, BulkJoin, asof_join, lines_of
from workers.api.history import VersionedTable, fold_regime_event, fold_signal

NOW = 1_800_000_000_000
T0 = 1_000_000
SYMBOLS = ["A", "B", "C"] * 4 + ["E", "X", " A", "", " "]  # E has no decision, X is unknown
ODD_IDS = ['id,with"quote', 'say "hi"', "line\nbreak", "cr\rin", ""]


def fleet(seed: int) -> dict[str, VersionedTable]:
    """A: in order; B: late publications (known_at scans); C: a truncated topic; all three
    past a retention that drops versions; E: only a started run."""
    rng = random.Random(seed)
    regime, signal = VersionedTable(retention_ms=200_000), VersionedTable()
    offset = 0
    for symbol in ("A", "B", "C"):
        ts = T0
        for i in range(60):
            ts += rng.choice((0, 1, 5_000, 20_000))
            late = rng.random() < 0.2 if symbol == "B" else False
            published = ts + (rng.randint(50_000, 300_000) if late else 100)
            kind = rng.choice(("EngineRunCompleted", "EngineRunCompleted", "HysteresisDecisionPublished"))
            event = result_event(ts, kind, symbol)
            rare = rng.random() < 0.15  # cells that are None: the csv writer leaves them empty
            event["regime_output"] = None if rare else {"regime": "RANGE", "confidence": 0.1 * i}
            if kind == "HysteresisDecisionPublished":
                event["hysteresis_decision"] = {
                    "current_regime": rng.choice(("TREND_UP", "a,b", "TREND_DOWN"))
                }
            if rng.random() < 0.3:
                event["event_id"] = rng.choice(ODD_IDS)
            fold_regime_event(regime, event, i % 2, offset, published, truncated=symbol == "C")
            signal_event = {
                "signal": {"symbol": symbol, "signal_id": event["event_id"], "signal_ts_ms": ts},
                "regime": None if rare else "RANGE",
                "regime_weight": 0.5,
                "meta_confidence": 0.25 if rng.random() < 0.85 else None,
            }
            fold_signal(signal, signal_event, 0, offset, published, truncated=symbol == "C")
            offset += 1
    fold_regime_event(regime, result_event(T0, "EngineRunStarted", "E"), 0, offset, T0)
    return {"regime": regime, "signal": signal}


def iso(ms: int, digits: int, suffix: str) -> str:
    """An ISO-8601 time: the form the chunks read at once when digits <= 6 and suffix is Z or ''."""
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{at.microsecond:06d}0"[: digits + 1] if digits else "") + suffix


MS = st.integers(T0 - 10_000, T0 + 600_000) | st.integers(NOW - 5, NOW + 5)
ISO = st.builds(iso, MS, st.integers(0, 7), st.sampled_from(("Z", "", "Z", "", "z", "+01:00", "+00:00")))
ODD = ("", " ", "nope", "-0", "007", f" {T0}", "١٢٣", "1e6", "99999999999999999", "2023-02-30T00:00:00Z")
ODD += ("2023-11-14 22:13:20", "0000-01-01T00:00:00", "1000-01-01T00:00:00")
TIMES = st.one_of(*[MS.map(str)] * 5, ISO, ISO, st.sampled_from(ODD))
JSON_TIMES = TIMES | MS | st.sampled_from((None, True, 1.5e6, 10**20, [1]))


@st.composite
def csv_body(draw: st.DrawFn) -> bytes:
    header = draw(
        st.sampled_from(
            ("symbol,as_of,known_at", "symbol,as_of", " as_of , symbol ,x", "symbol,as_of,known_at,symbol")
        )
    )
    names = [name.strip() for name in header.split(",")]
    lines = [header]
    for _ in range(draw(st.integers(0, 40))):
        cells = [
            draw(st.sampled_from(SYMBOLS)) if name == "symbol" else draw(TIMES) if name != "x" else "x"
            for name in names
        ]
        damage = draw(st.sampled_from(("",) * 14 + ("quote", "cr", "cell", "blank", "bytes", "long")))
        if damage == "quote":
            cells[0] = f'"{cells[0]}"'
        line = ",".join(cells) + {"cr": "\r1", "cell": ",1"}.get(damage, "")
        lines.append({"blank": " ", "bytes": "\udcff", "long": "y" * (MAX_LINE_BYTES + 1)}.get(damage, line))
    return "\n".join(lines).encode("utf-8", "surrogateescape") + draw(st.sampled_from((b"", b"\n", b"\r\n")))


@st.composite
def jsonl_body(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        row = {"symbol": draw(st.sampled_from((*SYMBOLS, None, 1))), "as_of": draw(JSON_TIMES)}
        if draw(st.booleans()):
            row["known_at"] = draw(JSON_TIMES)
        lines.append(draw(st.sampled_from((json.dumps(row),) * 6 + ("not json", "[1]", "", '{"as_of": 1}'))))
    return "\n".join(lines).encode()


def one_line_at_a_time(
    body: bytes, tables: dict[str, VersionedTable], kind: asof.Kind, fmt: asof.Format
) -> list[str] | str:
    """The reference: every line through `BulkJoin.row` (the error code of a body refused whole)."""
    join, out, started = BulkJoin(tables, kind, fmt, NOW), [], False
    try:
        for number, text in lines_of([body]):
            if not started and (text is None or text.strip()):
                out.append(join.start() + join.first(number, text))
                started = True
            else:
                out.append(join.row(number, text))
    except BadQuery as exc:
        return exc.code
    return [line for line in out if line]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 3),
    kind=st.sampled_from(("regime", "signal")),
    chunk_lines=st.integers(1, 9),
    data=st.data(),
)
def test_chunks_answer_byte_for_byte_as_one_line_at_a_time(fmt, seed, kind, chunk_lines, data):
    raw = data.draw(csv_body() if fmt == "csv" else jsonl_body())
    tables = fleet(seed)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    with patch.object(asof_bulk, "CHUNK_LINES", chunk_lines):
        try:
            got: list[str] | str = list(asof_join(pieces, tables, kind=kind, fmt=fmt, now_ms=NOW))
        except BadQuery as exc:
            got = exc.code
    assert got == one_line_at_a_time(raw, tables, kind, fmt)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from((b"a", b"\n", b"\r", b"\xff", "é".encode())), max_size=60),
    st.lists(st.integers(0, 60), max_size=5),
)
def test_lines_read_in_pieces_are_the_lines_of_the_whole(parts, cuts):
    body, limit = b"".join(parts), 6
    cuts = sorted(min(c, len(body)) for c in cuts)
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    whole = body.split(b"\n")
    whole = whole[:-1] if whole[-1] == b"" else whole

    def text(raw: bytes) -> str | None:
        try:
            return None if len(raw) > limit else raw.decode().rstrip("\r")
        except UnicodeDecodeError:
            return None

    assert list(lines_of(pieces, limit)) == [(n, text(raw)) for n, raw in enumerate(whole, start=1)]


@settings(max_examples=300, deadline=None)
@given(st.lists(TIMES | MS, max_size=20))
def test_times_read_at_once_are_the_times_parse_time_reads(values):
    for value, ms in zip(values, fast_times(values, NO_TIME).tolist(), strict=True):
        if ms != NO_TIME:
            assert ms == parse_time(value, "as_of")


def test_the_chunks_answer_plain_rows_without_the_one_line_path():
    """Epoch ms and ISO times of symbols published in order: only the errors take `row`'s way."""
    tables = fleet(0)
    kept = max(tables["regime"].histories[s].oldest_ms or 0 for s in "AC")
    times = [kept + 1_000 * i for i in range(200)]
    rows = [f"{'AC'[i % 2]},{t},{t + 150_000}" for i, t in enumerate(times)]
    rows += [f"{'AC'[i % 2]},{iso(t, 3, 'Z')}," for i, t in enumerate(times)]
    body = ("symbol,as_of,known_at\n" + "\n".join(rows) + "\nX,1,\nA,nope,\n").encode()
    with patch.object(BulkJoin, "_out", autospec=True, side_effect=BulkJoin._out) as one_line:
        got = list(asof_join([body], tables, now_ms=NOW))
    assert got == one_line_at_a_time(body, tables, "regime", "csv")
    assert [line.split(",")[1] for line in got[1:-2]] == ["A", "C"] * 200  # all answered
    assert [call.args[1] for call in one_line.call_args_list] == [402, 403]  # UNKNOWN_SYMBOL, INVALID_TIME
