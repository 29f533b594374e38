"""Point-in-time answers: times parsed (one at a time, or a chunk's at once), the question a
row asks, and one as-of answer (its cells, as JSON). The bulk join over many rows is
asof_bulk.py.

Pure: the tables and the wall clock come in as arguments, so the api's routes, the CLI
(`regime-fleet asof`) and the library share every rule.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from .history import MsArray, Version, VersionedTable

Kind = Literal["regime", "signal"]
Format = Literal["jsonl", "csv"]
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
