"""Versioned per-symbol histories (Kafka Streams' versioned stores in spirit): every regime
decision and every enriched signal, by event time, with the wall time each was published.

`as_of(T)` answers with the version whose event time is the latest at or before T (ties: the
later one on the topic); `as_of(T, known_at=K)` only among versions published by K (the Kafka
record timestamp). A history keeps `retention_ms` of event time behind its latest version,
plus the one version valid at that horizon; a question older than what is kept, or older than
what the topic still held when it was read, is a `BeyondRetention` error, never a wrong answer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# Decisions only (the regime table's rule): a hysteresis decision comes after its run's
# Completed event, at the same engine time, and wins the tie.
RANK = {"EngineRunCompleted": 1, "HysteresisDecisionPublished": 2}
COMPACT_EVERY = 256  # versions dropped at once: amortises the list shift
BLOCK = 64  # versions per block of least publication times (known_at scans skip whole blocks)
KNOWN_NOW = np.iinfo(np.int64).max  # `as_of_many`'s known_at for a question without one
MsArray = npt.NDArray[np.int64]


class AsOfMiss(Exception):
    """No version answers the question; `code` says why (docs/api.md, point-in-time lookups)."""

    code = "NO_VERSION"
    status = 404

    def __init__(self, symbol: str, message: str) -> None:
        super().__init__(f"{symbol!r}: {message}")
        self.symbol = symbol


class UnknownSymbol(AsOfMiss):
    code = "UNKNOWN_SYMBOL"


class NothingAsOf(AsOfMiss):
    """Nothing at or before T, and the topic held everything from the symbol's start."""

    code = "NO_DECISION_AS_OF"


class NotYetPublished(AsOfMiss):
    """known_at before the symbol's first publication (or nothing valid at T published by K)."""

    code = "NOT_PUBLISHED_BY_KNOWN_AT"


class BeyondRetention(AsOfMiss):
    """The answer could lie in what retention already dropped."""

    code = "BEYOND_RETENTION"
    status = 410


@dataclass(frozen=True, slots=True)
class Version:
    """One record of a symbol's history: when it became valid, when it was published, where."""

    valid_from_ms: int  # engine_timestamp_ms of a decision, signal_ts_ms of a signal
    rank: int
    published_ms: int  # the Kafka record timestamp
    partition: int
    offset: int
    chain_position: int  # the symbol's events on the topic before this one (-1: not chained)
    value: Mapping[str, Any]

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.valid_from_ms, self.rank, self.offset)


@dataclass
class SymbolHistory:
    """One symbol's versions by (event time, rank, offset), with a prefix maximum of their
    publication times so a known_at question scans only past versions published later."""

    truncated: bool = False  # versions older than the first kept one may have existed
    first_published_ms: int | None = None
    _keys: list[tuple[int, int, int]] = field(default_factory=list)
    _times: list[int] = field(default_factory=list)
    _versions: list[Version] = field(default_factory=list)
    _published: list[int] = field(default_factory=list)
    _published_max: list[int] = field(default_factory=list)
    _clean: int = 0  # _published_max is valid for the first _clean versions
    _mins: list[int] = field(default_factory=list)  # the least publication time of each BLOCK
    _mins_clean: bool = True
    _monotone: bool = True  # publication times never go down in event-time order: no scan needed
    _arrays: tuple[MsArray, MsArray] | None = None  # event times and prefix-max publication times, as numpy

    def add(self, version: Version) -> None:
        self._arrays = None
        key = version.key
        keys = self._keys
        if not keys or key > keys[-1]:  # in order: the usual case
            if self._published and version.published_ms < self._published[-1]:
                self._monotone = False
            keys.append(key)
            self._times.append(version.valid_from_ms)
            self._published.append(version.published_ms)
            self._versions.append(version)
            if self._mins_clean:
                if len(keys) % BLOCK == 1:
                    self._mins.append(version.published_ms)
                else:
                    self._mins[-1] = min(self._mins[-1], version.published_ms)
        else:
            at = bisect_right(keys, key)
            if at and keys[at - 1] == key:
                return  # the same record read again
            keys.insert(at, key)
            self._times.insert(at, version.valid_from_ms)
            self._published.insert(at, version.published_ms)
            self._versions.insert(at, version)
            self._clean = min(self._clean, at)
            self._mins_clean = self._monotone = False
        first = self.first_published_ms
        self.first_published_ms = version.published_ms if first is None else min(first, version.published_ms)

    def evict_before(self, horizon_ms: int) -> None:
        """Drop versions older than the one valid at `horizon_ms` (amortised)."""
        drop = bisect_right(self._times, horizon_ms) - 1
        if drop >= COMPACT_EVERY or (drop > 0 and drop * 2 >= len(self._times)):
            del self._keys[:drop], self._times[:drop], self._versions[:drop], self._published[:drop]
            self._published_max, self._clean, self._mins_clean = [], 0, False
            self.truncated, self._arrays = True, None

    @property
    def latest_ms(self) -> int | None:
        return self._times[-1] if self._times else None

    @property
    def oldest_ms(self) -> int | None:
        return self._times[0] if self._times else None

    def __len__(self) -> int:
        return len(self._versions)

    def __iter__(self) -> Iterator[Version]:
        return iter(self._versions)

    def tail(self, n: int) -> list[Version]:
        """The last `n` versions, oldest first (the console's timelines)."""
        return self._versions[-n:] if n > 0 else []

    def _prefix_max(self) -> list[int]:
        pm = self._published_max
        del pm[self._clean :]
        for published in self._published[self._clean :]:
            pm.append(max(pm[-1], published) if pm else published)
        self._clean = len(self._published)
        return pm

    def _rightmost_published_by(self, lo: int, hi: int, known_at_ms: int) -> int:
        """The largest i in [lo, hi) published by known_at_ms, else -1: whole blocks whose
        least publication is later are skipped."""
        if not self._mins_clean:
            p = self._published
            self._mins = [min(p[i : i + BLOCK]) for i in range(0, len(p), BLOCK)]
            self._mins_clean = True
        published, mins = self._published, self._mins
        i = hi - 1
        while i >= lo:
            if i % BLOCK == BLOCK - 1 and i - BLOCK + 1 >= lo and mins[i // BLOCK] > known_at_ms:
                i -= BLOCK
            elif published[i] <= known_at_ms:
                return i
            else:
                i -= 1
        return -1

    def as_of_many(self, as_of_ms: MsArray, known_at_ms: MsArray) -> list[Version | None]:
        """`as_of` for many questions at once (known_at KNOWN_NOW: none): None where only `as_of`
        can say, a miss or a late publication to scan for (the bulk join's chunks)."""
        if self._arrays is None:  # kept until the history changes: one build serves many chunks
            published = np.array(self._published, dtype=np.int64)
            self._arrays = (np.array(self._times, dtype=np.int64), np.maximum.accumulate(published))
        times, published_max = self._arrays
        n = np.searchsorted(times, as_of_ms, side="right")
        sure = np.searchsorted(published_max, known_at_ms, side="right")
        # As in `as_of`: all of the first `sure` were published by K, so n - 1 when sure >= n;
        # else, with monotone publication times, none after them was: sure - 1.
        found = np.minimum(n, sure) - 1 if self._monotone else np.where(sure >= n, n - 1, -1)
        versions = self._versions
        return [versions[i] if i >= 0 else None for i in found.tolist()]

    def as_of(self, symbol: str, as_of_ms: int, known_at_ms: int | None = None) -> Version:
        """The version valid at `as_of_ms` (as published by `known_at_ms`), or an AsOfMiss."""
        n = bisect_right(self._times, as_of_ms)
        if n == 0:
            if self.truncated:
                raise BeyondRetention(symbol, f"nothing kept at or before {as_of_ms} (retention)")
            raise NothingAsOf(symbol, f"no version at or before {as_of_ms}")
        if known_at_ms is None:
            return self._versions[n - 1]
        first = self.first_published_ms
        if first is not None and known_at_ms < first:
            if self.truncated:
                raise BeyondRetention(symbol, f"known_at {known_at_ms} is before the first kept publication")
            raise NotYetPublished(
                symbol, f"known_at {known_at_ms} is before its first publication at {first}"
            )
        # Every version before `sure` was published by K; after it, only late ones can be.
        sure = bisect_right(self._prefix_max(), known_at_ms)
        if sure >= n:
            return self._versions[n - 1]
        found = -1 if self._monotone else self._rightmost_published_by(sure, n, known_at_ms)
        if found >= 0:
            return self._versions[found]
        if sure > 0:
            return self._versions[sure - 1]
        if self.truncated:
            raise BeyondRetention(symbol, f"nothing kept valid at {as_of_ms} was published by {known_at_ms}")
        raise NotYetPublished(symbol, f"nothing valid at {as_of_ms} had been published by {known_at_ms}")


class VersionedTable:
    """Symbol -> SymbolHistory, bounded by `retention_ms` of event time per symbol (0: all)."""

    def __init__(self, retention_ms: int = 0) -> None:
        self.retention_ms = retention_ms
        self.histories: dict[str, SymbolHistory] = {}
        self._chain: dict[str, int] = {}  # events seen per symbol (chained topics)
        self.versions = 0

    def history(self, symbol: str, truncated: bool = False) -> SymbolHistory:
        found = self.histories.get(symbol)
        if found is None:
            found = self.histories[symbol] = SymbolHistory(truncated=truncated)
        return found

    def add(self, symbol: str, version: Version, truncated: bool = False) -> None:
        history = self.history(symbol, truncated)
        before = len(history)
        history.add(version)
        if self.retention_ms and history.latest_ms is not None:
            history.evict_before(history.latest_ms - self.retention_ms)
        self.versions += len(history) - before

    def next_chain_position(self, symbol: str) -> int:
        position = self._chain.get(symbol, 0)
        self._chain[symbol] = position + 1
        return position

    def as_of(self, symbol: str, as_of_ms: int, known_at_ms: int | None = None) -> Version:
        history = self.histories.get(symbol)
        if history is None:
            raise UnknownSymbol(symbol, "no version of this symbol on the topic")
        return history.as_of(symbol, as_of_ms, known_at_ms)

    def __len__(self) -> int:
        return len(self.histories)


def fold_regime_event(
    table: VersionedTable,
    event: Mapping[str, Any],
    partition: int,
    offset: int,
    published_ms: int,
    truncated: bool = False,
) -> None:
    """One regime.events record: every event moves its symbol's chain; decisions are versions."""
    symbol = str(event["symbol"])
    position = table.next_chain_position(symbol)
    rank = RANK.get(str(event["event_type"]))
    if rank is None:
        table.history(symbol, truncated)  # known, even with only Started/Failed events
        return
    version = Version(
        int(event["engine_timestamp_ms"]), rank, published_ms, partition, offset, position, event
    )
    table.add(symbol, version, truncated)


def fold_signal(
    table: VersionedTable,
    event: Mapping[str, Any],
    partition: int,
    offset: int,
    published_ms: int,
    truncated: bool = False,
) -> None:
    """One signals.enriched record, valid from its signal's event time."""
    signal = event["signal"]
    version = Version(int(signal["signal_ts_ms"]), 0, published_ms, partition, offset, -1, event)
    table.add(str(signal["symbol"]), version, truncated)
