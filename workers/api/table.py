"""The api's tables: the latest decision per symbol, folded from regime.events, and the
latest enriched signal per symbol, folded from signals.enriched.

A global table (every api replica reads every partition, like a Kafka Streams GlobalKTable):
the SSE fan-out needs every partition anyway, one entry per symbol is small, and any replica
can then answer any symbol without routing requests to a partition's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Decisions only; Started/Failed do not change the regime in effect. A hysteresis decision
# comes after its run's Completed event and wins a tie in engine time.
RANK = {"EngineRunCompleted": 1, "HysteresisDecisionPublished": 2}


@dataclass(frozen=True)
class Decision:
    symbol: str
    event: Mapping[str, Any]
    partition: int
    offset: int

    @property
    def position(self) -> tuple[int, int]:
        return (int(self.event["engine_timestamp_ms"]), RANK[self.event["event_type"]])

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        decision = e.get("hysteresis_decision")
        output = e.get("regime_output") or {}
        return {
            "symbol": self.symbol,
            "regime": decision["current_regime"] if decision else output.get("regime"),
            "confidence": output.get("confidence"),
            "engine_timestamp_ms": e["engine_timestamp_ms"],
            "engine_mode": e["engine_mode"],
            "event_type": e["event_type"],
            "run_id": e["run_id"],
            "hysteresis_decision": decision,
            "regime_output": e.get("regime_output"),
            "provenance": e["provenance"],
            "correlation_id": e.get("correlation_id", ""),
            "partition": self.partition,
            "offset": self.offset,
        }


class RegimeTable:
    def __init__(self) -> None:
        self._latest: dict[str, Decision] = {}
        self._seen: set[str] = set()

    def apply(self, event: Mapping[str, Any], partition: int, offset: int) -> bool:
        """Fold one event in; True when it became the symbol's latest decision."""
        symbol = str(event["symbol"])
        self._seen.add(symbol)
        if event["event_type"] not in RANK:
            return False
        candidate = Decision(symbol, event, partition, offset)
        current = self._latest.get(symbol)
        if current is not None and candidate.position < current.position:
            return False  # older engine time: a replayed or late event never rolls back
        self._latest[symbol] = candidate
        return True

    def get(self, symbol: str) -> Decision | None:
        return self._latest.get(symbol)

    def known(self, symbol: str) -> bool:
        return symbol in self._seen

    def __len__(self) -> int:
        return len(self._latest)


@dataclass(frozen=True)
class LatestSignal:
    event: Mapping[str, Any]  # an EnrichedSignalEvent
    partition: int
    offset: int

    @property
    def position(self) -> tuple[int, int]:
        # A symbol lives in one partition: the offset orders signals of the same event time.
        return (int(self.event["signal"]["signal_ts_ms"]), self.offset)

    def as_dict(self) -> dict[str, Any]:
        """As the SSE streams send it: the record with its partition and offset."""
        return {**self.event, "partition": self.partition, "offset": self.offset}


class SignalTable:
    def __init__(self) -> None:
        self._latest: dict[str, LatestSignal] = {}

    def apply(self, event: Mapping[str, Any], partition: int, offset: int) -> bool:
        """Fold one enriched signal in; True when it became the symbol's latest (by signal
        time: a late or replayed signal never rolls it back)."""
        symbol = str(event["signal"]["symbol"])
        candidate = LatestSignal(event, partition, offset)
        current = self._latest.get(symbol)
        if current is not None and candidate.position < current.position:
            return False
        self._latest[symbol] = candidate
        return True

    def get(self, symbol: str) -> LatestSignal | None:
        return self._latest.get(symbol)

    def __len__(self) -> int:
        return len(self._latest)
