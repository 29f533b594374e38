"""The fleet in this process, for research and backtests: the same cores as the live workers,
run by the in-memory Driver (workers/processing/driver.py), so a backtest gets the answers the
broker-backed fleet gives on the same inputs (tests/integration/test_in_process.py).

    fleet = InProcessFleet(settings)
    fleet.market(trades_and_bars)               # RawMarketEvents, as produced to market.raw
    enriched = fleet.process_signal(signal)     # a SignalEvent -> its EnrichedSignalEvent
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workers.config import FleetSettings, load_settings
from workers.meta_model.training import dataset_from_bars, train
from workers.processing.driver import Driver
from workers.runtime.commands import symbol_partition
from workers.topics import ENRICHED, EVENTS, FLEET_DLQ, MODELS, RAW, SIGNALS
from workers.topology import Topology, load_topology


class SignalRejected(ValueError):
    """The enricher dead-lettered the signal (the live fleet would put it on fleet.dlq)."""

    def __init__(self, signal_id: str, code: str, message: str) -> None:
        super().__init__(f"signal {signal_id}: {code}: {message}")
        self.signal_id, self.code, self.message = signal_id, code, message


class InProcessFleet:
    """process_signal, decide, train and hot_swap_model on the fleet's own cores, in memory."""

    def __init__(
        self,
        settings: FleetSettings | None = None,
        *,
        workers: Sequence[str] | None = None,
        topology: Topology | None = None,
        now_ms: int = 0,
    ) -> None:
        self.settings = settings or load_settings()
        self.topology = topology or load_topology(self.settings.partitions)
        names = list(workers) if workers is not None else self.topology.order()
        self.driver = Driver.for_fleet(self.settings, self.topology, names, now_ms=now_ms)
        for name in names:
            self.driver.assign(name, range(self.settings.partitions))
        self._partitions: dict[str, int] = {}

    def partition(self, symbol: str) -> int:
        """Where the live fleet's producers put the symbol (murmur2, as the Java client); remembered."""
        found = self._partitions.get(symbol)
        if found is None:
            found = self._partitions[symbol] = symbol_partition(symbol, self.settings.partitions)
        return found

    def market(self, events: Iterable[Mapping[str, Any]]) -> None:
        """RawMarketEvents in, as if produced to market.raw keyed by symbol."""
        for event in events:
            symbol = str(event["symbol"])
            self.driver.feed(
                RAW, symbol, event, partition=self.partition(symbol), timestamp_ms=int(event["event_ts_ms"])
            )

    def decide(self, events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Market events in; the regime.events records (decisions) they caused, in order."""
        before = len(self.driver.received(EVENTS))
        self.market(events)
        return [
            logged.value
            for logged in self.driver.received(EVENTS)[before:]
            if isinstance(logged.value, Mapping)
        ]

    def process_signal(self, signal: Mapping[str, Any]) -> Mapping[str, Any]:
        """A SignalEvent in; its EnrichedSignalEvent, or SignalRejected with the enricher's code."""
        enriched, rejected = len(self.driver.received(ENRICHED)), len(self.driver.received(FLEET_DLQ))
        symbol = str(signal["symbol"])
        self.driver.feed(
            SIGNALS,
            symbol,
            signal,
            partition=self.partition(symbol),
            timestamp_ms=int(signal["signal_ts_ms"]),
        )
        out = self.driver.received(ENRICHED)[enriched:]
        if out and isinstance(out[-1].value, Mapping):
            return out[-1].value
        letters = self.driver.received(FLEET_DLQ)[rejected:]
        headers = letters[-1].headers if letters else {}
        raise SignalRejected(
            str(signal.get("signal_id")),
            _text(headers.get("error_code", "NOT_ENRICHED")),
            _text(headers.get("error_message", "")),
        )

    def train(self, bars: list[dict[str, Any]], *, version: str, trained_ts_ms: int) -> dict[str, Any]:
        """A ModelRecord trained on BAR RawMarketEvents as `regime-fleet train` does (live or rejected by the gate)."""
        result = train(
            self.settings,
            dataset_from_bars(self.settings, bars),
            version=version,
            trained_ts_ms=trained_ts_ms,
        )
        return dict(result.record)

    def hot_swap_model(self, record: Mapping[str, Any]) -> None:
        """Put a ModelRecord on every partition of models, as the trainer publishes it: the enricher swaps to it."""
        for partition in range(self.settings.partitions):
            self.driver.feed(MODELS, str(record["model_name"]), record, partition=partition)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
