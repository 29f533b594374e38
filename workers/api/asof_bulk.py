"""The bulk as-of join: JSON lines or CSV in, the same format out, one answer or one error
per input line (its line number), streamed and bounded in memory.

Pure: the tables, the wall clock and the lines come in as arguments, so the api's route
(`POST /v1/asof`), the CLI (`regime-fleet asof`) and the library (`asof_join`) share every
rule. It answers a chunk of lines at once (times parsed and histories searched with numpy); a
line the chunk cannot take (a quoted CSV cell, an unusual time, a miss) is answered by the
one-line path, which the property tests hold the chunks to.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .asof import CELLS, COLUMNS, NO_TIME, BadQuery, Format, Kind, answer, fast_times, question
from .history import KNOWN_NOW, AsOfMiss, MsArray, Version, VersionedTable

MAX_LINE_BYTES = 65_536
CHUNK_LINES = 16384  # lines answered at once: spreads numpy's per-call cost, bounds memory
CHUNK_CHARS = 1 << 20


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
