"""Point-in-time answers: times parsed, one as-of answer as JSON, and the bulk as-of join
(JSON lines or CSV in, the same format out, one answer or one error per input line).

Pure: the tables, the wall clock and the lines come in as arguments, so the api's route, the
CLI (`regime-fleet asof`) and the library (`asof_join`) share every rule.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .history import AsOfMiss, Version, VersionedTable

Kind = Literal["regime", "signal"]
Format = Literal["jsonl", "csv"]
MAX_LINE_BYTES = 65_536
_INT = re.compile(r"-?\d{1,16}")
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


def regime_answer(version: Version) -> dict[str, Any]:
    """The decision of a version, flat: what a backtest joins on, and where it is on the chain."""
    e = version.value
    decision = e.get("hysteresis_decision")
    output = e.get("regime_output") or {}
    return {
        "regime": decision["current_regime"] if decision else output.get("regime"),
        "confidence": output.get("confidence"),
        "engine_timestamp_ms": e["engine_timestamp_ms"],
        "event_type": e["event_type"],
        "event_id": e["event_id"],
        "event_hash": e["provenance"].get("event_hash", ""),
        "chain_position": version.chain_position,
        "published_ms": version.published_ms,
        "partition": version.partition,
        "offset": version.offset,
    }


def signal_answer(version: Version) -> dict[str, Any]:
    e = version.value
    return {
        "signal_id": e["signal"]["signal_id"],
        "signal_ts_ms": e["signal"]["signal_ts_ms"],
        "regime": e.get("regime"),
        "regime_weight": e.get("regime_weight"),
        "meta_confidence": e.get("meta_confidence"),
        "published_ms": version.published_ms,
        "partition": version.partition,
        "offset": version.offset,
    }


ANSWERS = {"regime": regime_answer, "signal": signal_answer}


def answer(table: VersionedTable, kind: Kind, q: Question) -> dict[str, Any]:
    """One flat answer (AsOfMiss when there is none)."""
    version = table.as_of(q.symbol, q.as_of_ms, q.known_at_ms)
    return {
        "symbol": q.symbol,
        "as_of_ms": q.as_of_ms,
        "known_at_ms": q.known_at_ms,
        **ANSWERS[kind](version),
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
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._hold(chunk[start:])
                return
            self._hold(chunk[start:end])
            yield self._line()
            start = end + 1

    def end(self) -> Iterator[tuple[int, str | None]]:
        if self.buffer or self.overflow:
            yield self._line()

    def _hold(self, part: bytes) -> None:
        if self.overflow or len(self.buffer) + len(part) > self.limit:
            self.overflow, self.buffer = True, bytearray()
        else:
            self.buffer += part

    def _line(self) -> tuple[int, str | None]:
        self.number += 1
        raw, too_long = bytes(self.buffer), self.overflow
        self.buffer, self.overflow = bytearray(), False
        if too_long:
            return self.number, None
        try:
            return self.number, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return self.number, None


class BulkJoin:
    """Answers a bulk body line by line: JSON lines ({"symbol", "as_of"[, "known_at"]}) or CSV
    (a header naming symbol, as_of and optionally known_at); the output is the same format,
    one row per input row (blank lines skipped), each with its `line` number."""

    def __init__(self, tables: Mapping[str, VersionedTable], kind: Kind, fmt: Format, now_ms: int) -> None:
        self.table = tables[kind]
        self.kind: Kind = kind
        self.fmt: Format = fmt
        self.now_ms = now_ms
        self.columns = ("line", "symbol", "as_of_ms", "known_at_ms", *COLUMNS[kind], "error", "message")
        self.header: list[str] | None = None
        self.answered = 0
        self.refused = 0
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def start(self) -> str:
        return self._csv_row(self.columns) if self.fmt == "csv" else ""

    def row(self, number: int, text: str | None) -> str:
        """The output line (with its newline) for input line `number`; '' for a skipped line."""
        if text is not None and not text.strip():
            return ""
        try:
            if text is None:
                raise BadQuery("LINE_UNREADABLE", f"not UTF-8 or longer than {MAX_LINE_BYTES} bytes")
            fields = self._fields(text)
            if fields is None:
                return ""  # the CSV header
            q = question(fields.get("symbol"), fields.get("as_of"), fields.get("known_at"), self.now_ms)
            out = {"line": number, **answer(self.table, self.kind, q)}
            self.answered += 1
        except (BadQuery, AsOfMiss) as exc:
            out = {"line": number, "error": exc.code, "message": str(exc)}
            self.refused += 1
        return self._render(out)

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

    def _render(self, out: dict[str, Any]) -> str:
        if self.fmt == "jsonl":
            return json.dumps(out, separators=(",", ":")) + "\n"
        return self._csv_row(["" if out.get(c) is None else out[c] for c in self.columns])

    def _csv_row(self, cells: Iterable[Any]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(list(cells))
        return self._buffer.getvalue()


def asof_join(
    lines: Iterable[bytes],
    tables: Mapping[str, VersionedTable],
    *,
    kind: Kind = "regime",
    fmt: Format = "csv",
    now_ms: int,
) -> Iterator[str]:
    """The library's bulk as-of join: input bytes (lines or chunks) -> output lines; BadQuery
    when the first line shows the input is not in its format (as the api's 422)."""
    join = BulkJoin(tables, kind, fmt, now_ms)
    started = False
    for number, text in lines_of(lines):
        if not started and (text is None or text.strip()):
            out, started = join.start() + join.first(number, text), True
        else:
            out = join.row(number, text)
        if out:
            yield out
