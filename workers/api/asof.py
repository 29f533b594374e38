"""Point-in-time answers: times parsed, one as-of answer as JSON, and the bulk as-of join
(JSON lines or CSV in, the same format out, one answer or one error per input line).

Pure: the tables, the wall clock and the lines come in as arguments, so the api's route, the
CLI (`regime-fleet asof`) and the library (`asof_join`) share every rule. The bulk join answers
a chunk of lines at once (times parsed and histories searched with numpy); a line the chunk
cannot take (a quoted CSV cell, an unusual time, a miss) is answered by the one-line path.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from .history import KNOWN_NOW, AsOfMiss, MsArray, Version, VersionedTable

Kind = Literal["regime", "signal"]
Format = Literal["jsonl", "csv"]
MAX_LINE_BYTES = 65_536
CHUNK_LINES = 16384  # lines answered at once: spreads numpy's per-call cost, bounds memory
CHUNK_CHARS = 1 << 20
_INT = re.compile(r"-?\d{1,16}")
# What `fast_times` reads at once: ASCII epoch ms, and the ISO-8601 form numpy reads as
# `fromisoformat` does, in years whose microseconds a double holds exactly.
_FAST_INT = re.compile(r"-?[0-9]{1,16}")
_FAST_INTS = re.compile(r"(?:-?[0-9]{1,16}\n)*-?[0-9]{1,16}")
_FAST_ISO = re.compile(
    r"(?:19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?Z?"
)
NO_TIME = np.iinfo(np.int64).min  # `fast_times`: only `parse_time` can read this one
REGIME_COLUMNS = (
    "regime",
    "confidence",
    "engine_timestamp_ms",
    "event_type",
    "event_id",
    "event_hash",
    "chain_position",
    "published_ms",
    "partition",
    "offset",
)
SIGNAL_COLUMNS = (
    "signal_id",
    "signal_ts_ms",
    "regime",
    "regime_weight",
    "meta_confidence",
    "published_ms",
    "partition",
    "offset",
)
COLUMNS = {"regime": REGIME_COLUMNS, "signal": SIGNAL_COLUMNS}


class BadQuery(ValueError):
    """A question that cannot be asked (422): a malformed time, a time in the future, a bad row."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def parse_time(value: Any, name: str) -> int:
    """Milliseconds since the epoch, from an integer (ms) or an ISO-8601 time (UTC if no offset)."""
    if isinstance(value, bool):
        raise BadQuery("INVALID_TIME", f"{name} is not a time", name)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if _INT.fullmatch(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(
            "INVALID_TIME", f"{name} {text[:40]!r} is neither epoch milliseconds nor ISO-8601", name
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def fast_times(values: list[Any], blank: int) -> MsArray:
    """`parse_time` of many values at once (`blank` for None or ""), NO_TIME for a value only
    `parse_time` can read (or refuse)."""
    with suppress(TypeError):  # a value not a str: read one by one
        if _FAST_INTS.fullmatch("\n".join(values)):
            return np.array(values, dtype=np.int64)  # the usual chunk: every value epoch ms
    out = np.full(len(values), NO_TIME, dtype=np.int64)
    iso: list[int] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out[i] = blank
        elif type(v) is int and -(10**16) < v < 10**16:
            out[i] = v
        elif type(v) is str and _FAST_INT.fullmatch(v):
            out[i] = int(v)
        elif type(v) is str and _FAST_ISO.fullmatch(v):
            iso.append(i)
    if iso:
        try:
            us = np.array([values[i].rstrip("Z") for i in iso], dtype="datetime64[us]").astype(np.int64)
        except ValueError:  # a day the month does not have: each answered (refused) alone
            return out
        # As parse_time rounds: seconds as a double, then milliseconds truncated.
        out[iso] = (us.astype(np.float64) / 1e6 * 1000).astype(np.int64)
    return out


@dataclass(frozen=True)
class Question:
    symbol: str
    as_of_ms: int
    known_at_ms: int | None


def question(symbol: Any, as_of: Any, known_at: Any, now_ms: int) -> Question:
    """A checked question: a symbol, as_of and known_at not in the future (wall clock now_ms)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise BadQuery("INVALID_SYMBOL", "symbol must be a non-empty string", "symbol")
    if as_of is None or as_of == "":
        raise BadQuery("MISSING_AS_OF", "as_of is required", "as_of")
    as_of_ms = parse_time(as_of, "as_of")
    if as_of_ms > now_ms:
        raise BadQuery("AS_OF_IN_FUTURE", f"as_of {as_of_ms} is after the api's clock {now_ms}", "as_of")
    known_at_ms = None if known_at in (None, "") else parse_time(known_at, "known_at")
    if known_at_ms is not None and known_at_ms > now_ms:
        raise BadQuery(
            "KNOWN_AT_IN_FUTURE", f"known_at {known_at_ms} is after the api's clock {now_ms}", "known_at"
        )
    return Question(symbol, as_of_ms, known_at_ms)


def regime_cells(version: Version) -> tuple[Any, ...]:
    """The decision of a version, flat (REGIME_COLUMNS): what a backtest joins on, and where it
    is on the chain."""
    e = version.value
    decision = e.get("hysteresis_decision")
    output = e.get("regime_output") or {}
    return (
        decision["current_regime"] if decision else output.get("regime"),
        output.get("confidence"),
        e["engine_timestamp_ms"],
        e["event_type"],
        e["event_id"],
        e["provenance"].get("event_hash", ""),
        version.chain_position,
        version.published_ms,
        version.partition,
        version.offset,
    )


def signal_cells(version: Version) -> tuple[Any, ...]:
    e = version.value
    signal = e["signal"]
    return (
        signal["signal_id"],
        signal["signal_ts_ms"],
        e.get("regime"),
        e.get("regime_weight"),
        e.get("meta_confidence"),
        version.published_ms,
        version.partition,
        version.offset,
    )


CELLS = {"regime": regime_cells, "signal": signal_cells}


def regime_answer(version: Version) -> dict[str, Any]:
    return dict(zip(REGIME_COLUMNS, regime_cells(version), strict=True))


def answer(table: VersionedTable, kind: Kind, q: Question) -> dict[str, Any]:
    """One flat answer (AsOfMiss when there is none)."""
    version = table.as_of(q.symbol, q.as_of_ms, q.known_at_ms)
    return {
        "symbol": q.symbol,
        "as_of_ms": q.as_of_ms,
        "known_at_ms": q.known_at_ms,
        **dict(zip(COLUMNS[kind], CELLS[kind](version), strict=True)),
    }


def lines_of(
    chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, str | None]]:
    """(line number from 1, text) per line of a byte stream; None for a line that is too long
    or not UTF-8 (answered as an error, the rest goes on). Holds at most one line."""
    splitter = LineSplitter(max_line_bytes)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.end()


class LineSplitter:
    """Bytes in, numbered lines out, bounded: what `lines_of` does, for async bodies too."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.limit = max_line_bytes
        self.buffer = bytearray()
        self.number = 0
        self.overflow = False

    def feed(self, chunk: bytes) -> Iterator[tuple[int, str | None]]:
        *ended, rest = chunk.split(b"\n")
        for raw in ended:
            if self.buffer or self.overflow:  # the end of a line begun in an earlier chunk
                self._hold(raw)
                yield self._line(self._release())
            else:
                yield self._line(raw)
        self._hold(rest)

    def end(self) -> Iterator[tuple[int, str | None]]:
        if self.buffer or self.overflow:
            yield self._line(self._release())

    def _hold(self, part: bytes) -> None:
        if self.overflow or len(self.buffer) + len(part) > self.limit:
            self.overflow, self.buffer = True, bytearray()
        else:
            self.buffer += part

    def _release(self) -> bytes | None:
        """The held line, None if it was too long; holds nothing after."""
        raw = None if self.overflow else bytes(self.buffer)
        self.buffer, self.overflow = bytearray(), False
        return raw

    def _line(self, raw: bytes | None) -> tuple[int, str | None]:
        self.number += 1
        if raw is None or len(raw) > self.limit:
            return self.number, None
        try:
            return self.number, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return self.number, None


class BulkJoin:
    """Answers a bulk body: JSON lines ({"symbol", "as_of"[, "known_at"]}) or CSV (a header
    naming symbol, as_of and optionally known_at); the output is the same format, one row per
    input row (blank lines skipped), each with its `line` number. `rows` answers chunks of
    lines at once; `row` one line, as `rows` does for every line it cannot take."""

    def __init__(self, tables: Mapping[str, VersionedTable], kind: Kind, fmt: Format, now_ms: int) -> None:
        self.table = tables[kind]
        self.kind: Kind = kind
        self.fmt: Format = fmt
        self.now_ms = now_ms
        self.keys = ("line", "symbol", "as_of_ms", "known_at_ms", *COLUMNS[kind])
        self.columns = (*self.keys, "error", "message")
        self._template = ",".join(["%s"] * len(self.columns)) + "\n"
        self.header: list[str] | None = None
        self.answered = 0
        self.refused = 0
        self._pending: list[tuple[int, str | None]] = []  # lines waiting for a full chunk
        self._pending_chars = 0
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def start(self) -> str:
        return self._csv_text([self.columns]) if self.fmt == "csv" else ""

    def row(self, number: int, text: str | None) -> str:
        """The output line (with its newline) for input line `number`; '' for a skipped line."""
        out = self._out(number, text)
        return "" if out is None else self._line(out)

    def rows(self, lines: Iterable[tuple[int, str | None]], *, more: bool = False) -> Iterator[str]:
        """`row` of each line after `first` (skipped lines left out), answered in chunks of at
        most CHUNK_LINES lines or CHUNK_CHARS characters: bounded however many lines come. With
        `more`, a chunk not yet full waits for the lines of the next call (a body read in pieces)."""
        pending, chars = self._pending, self._pending_chars
        for line in lines:
            pending.append(line)
            chars += len(line[1] or "")
            if len(pending) == CHUNK_LINES or chars >= CHUNK_CHARS:
                yield from self._chunk(pending)
                pending, chars = [], 0
        if more:
            self._pending, self._pending_chars = pending, chars
        else:
            self._pending, self._pending_chars = [], 0
            yield from self._chunk(pending)

    def first(self, number: int, text: str | None) -> str:
        """The first non-blank line: as `row`, but BadQuery when it shows the body is not in
        its format at all (a CSV header without symbol and as_of, a first JSON line that is not
        an object): the whole request is refused, before anything is answered."""
        if text is None:
            raise BadQuery(
                "LINE_UNREADABLE", f"line {number} is not UTF-8 or longer than {MAX_LINE_BYTES} bytes"
            )
        if self.fmt == "csv" or not text.lstrip().startswith("{"):
            self._fields(text)  # raises on a bad header or a first line that is not JSON
            if self.fmt == "csv":
                return ""
        return self.row(number, text)

    def _out(self, number: int, text: str | None) -> dict[str, Any] | None:
        """One line's answer or error, None for a blank line or the CSV header."""
        if text is not None and not text.strip():
            return None
        try:
            if text is None:
                raise BadQuery("LINE_UNREADABLE", f"not UTF-8 or longer than {MAX_LINE_BYTES} bytes")
            fields = self._fields(text)
            if fields is None:
                return None  # the CSV header
            q = question(fields.get("symbol"), fields.get("as_of"), fields.get("known_at"), self.now_ms)
            out = {"line": number, **answer(self.table, self.kind, q)}
            self.answered += 1
        except (BadQuery, AsOfMiss) as exc:
            out = {"line": number, "error": exc.code, "message": str(exc)}
            self.refused += 1
        return out

    def _chunk(self, lines: list[tuple[int, str | None]]) -> list[str]:
        """The output lines of `lines`: the questions the chunk can take answered at once (times
        parsed together, each symbol's history searched once), every other line by `_out`."""
        at, symbols, as_ofs, known_ats = self._questions(lines)
        as_of_ms, known_at_ms = fast_times(as_ofs, NO_TIME), fast_times(known_ats, KNOWN_NOW)
        found = self._find(symbols, as_of_ms, known_at_ms)
        none = None if self.fmt == "jsonl" else ""  # known_at of a question without one
        known_at_list = [none if k == KNOWN_NOW else k for k in known_at_ms.tolist()]
        as_of_list, cells_of = as_of_ms.tolist(), CELLS[self.kind]

        def answers() -> Iterator[tuple[Any, ...]]:  # row by row: nothing the gc has to keep
            questions = zip(at, symbols, as_of_list, known_at_list, found, strict=True)
            return ((lines[i][0], s, a, k, *cells_of(v)) for i, s, a, k, v in questions if v is not None)

        rendered = iter(self._render(answers))
        answered = [False] * len(lines)
        for i, version in zip(at, found, strict=True):
            answered[i] = version is not None
        self.answered += sum(answered)
        out = []
        for (number, text), done in zip(lines, answered, strict=True):
            if done:
                out.append(next(rendered))
            elif (other := self._out(number, text)) is not None:
                out.append(self._line(other))
        return out

    def _find(self, symbols: list[str], as_of_ms: MsArray, known_at_ms: MsArray) -> list[Version | None]:
        """The answer of each question fast_times could read, not in the future: each symbol's
        history searched once; None where only `_out` can say."""
        now = self.now_ms
        asked = (as_of_ms != NO_TIME) & (as_of_ms <= now)
        asked &= (known_at_ms != NO_TIME) & ((known_at_ms <= now) | (known_at_ms == KNOWN_NOW))
        by_symbol: dict[str, list[int]] = {}
        for j in np.flatnonzero(asked).tolist():
            by_symbol.setdefault(symbols[j], []).append(j)
        found: list[Version | None] = [None] * len(symbols)
        for symbol, js in by_symbol.items():
            history = self.table.histories.get(symbol)
            if history is not None:
                for j, version in zip(js, history.as_of_many(as_of_ms[js], known_at_ms[js]), strict=True):
                    found[j] = version
        return found

    def _render(self, answers: Callable[[], Iterator[tuple[Any, ...]]]) -> list[str]:
        """Answer rows (`keys`) as output lines: CSV joined directly, through the csv writer
        only where that would not give the same bytes."""
        if self.fmt == "jsonl":
            return [_json_line(dict(zip(self.keys, row, strict=True))) for row in answers()]
        template = self._template
        lines = [template % (*row, "", "") for row in answers()]
        if self._plain(lines):
            return lines
        return [
            line if self._plain([line]) else self._csv_text([(*row, "", "")])
            for line, row in zip(lines, answers(), strict=True)
        ]

    def _plain(self, lines: list[str]) -> bool:
        """Whether csv.writer writes these rows as joined: no cell that needs quotes, none None
        (the writer leaves it empty, `%s` says "None")."""
        text = "".join(lines)
        return (
            '"' not in text
            and "\r" not in text
            and "None" not in text
            and text.count(",") == (len(self.columns) - 1) * len(lines)
            and text.count("\n") == len(lines)
        )

    def _line(self, out: dict[str, Any]) -> str:
        """One line's answer or error, as `_out` gives it, in the output format."""
        if self.fmt == "jsonl":
            return _json_line(out)
        return self._csv_text([[out.get(c) for c in self.columns]])

    def _questions(
        self, lines: list[tuple[int, str | None]]
    ) -> tuple[list[int], list[str], list[Any], list[Any]]:
        """The lines whose question the chunk can take (their index in `lines`), with their
        symbol, as_of and known_at as read: CSV rows without quotes or carriage returns (a plain
        split reads them as the csv module does), JSON objects."""
        at: list[int] = []
        symbols: list[str] = []
        as_ofs: list[Any] = []
        known_ats: list[Any] = []
        if self.fmt == "csv":
            header = self.header or []
            index = {name: i for i, name in enumerate(header)}  # the last of a repeated name
            s, a, k = index.get("symbol", 0), index.get("as_of", 0), index.get("known_at")
            for i, (_, text) in enumerate(lines):
                if text is None or '"' in text or "\r" in text:
                    continue
                cells = text.split(",")
                if len(cells) == len(header) and cells[s].strip():
                    at.append(i)
                    symbols.append(cells[s])
                    as_ofs.append(cells[a])
                    known_ats.append("" if k is None else cells[k])
            return at, symbols, as_ofs, known_ats
        for i, (_, text) in enumerate(lines):
            if text is None:
                continue
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                continue
            symbol = value.get("symbol") if isinstance(value, dict) else None
            if isinstance(symbol, str) and symbol.strip():
                at.append(i)
                symbols.append(symbol)
                as_ofs.append(value.get("as_of"))
                known_ats.append(value.get("known_at"))
        return at, symbols, as_ofs, known_ats

    def _fields(self, text: str) -> dict[str, Any] | None:
        if self.fmt == "jsonl":
            try:
                value = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise BadQuery("INVALID_JSON", f"not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
            if not isinstance(value, dict):
                raise BadQuery("INVALID_ROW", "a row is one JSON object")
            return value
        try:
            cells = next(csv.reader([text]))
        except csv.Error as exc:  # a stray carriage return, an unterminated quote...
            code = "INVALID_HEADER" if self.header is None else "INVALID_ROW"
            raise BadQuery(code, f"not a CSV row: {exc}") from None
        if self.header is None:
            names = [c.strip() for c in cells]
            if "symbol" not in names or "as_of" not in names:
                raise BadQuery(
                    "INVALID_HEADER", "the CSV header must name symbol and as_of (and may name known_at)"
                )
            self.header = names
            return None
        if len(cells) != len(self.header):
            raise BadQuery("INVALID_ROW", f"{len(cells)} cells, the header names {len(self.header)}")
        return dict(zip(self.header, cells, strict=True))

    def _csv_text(self, rows: Iterable[Iterable[Any]]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)  # None is written as an empty cell
        return self._buffer.getvalue()


def _json_line(out: dict[str, Any]) -> str:
    return json.dumps(out, separators=(",", ":")) + "\n"


def asof_join(
    lines: Iterable[bytes],
    tables: Mapping[str, VersionedTable],
    *,
    kind: Kind = "regime",
    fmt: Format = "csv",
    now_ms: int,
) -> Iterator[str]:
    """The library's bulk as-of join: input bytes (lines or chunks) -> output lines (answered a
    chunk at a time); BadQuery when the first line shows the input is not in its format (as
    the api's 422)."""
    join = BulkJoin(tables, kind, fmt, now_ms)
    numbered = lines_of(lines)
    for number, text in numbered:
        if text is None or text.strip():
            if out := join.start() + join.first(number, text):
                yield out
            yield from join.rows(numbered)
            return
