"""The fleet's records as NautilusTrader custom data (`pip install regime-fleet[nautilus]`):
`RegimeDecision`, `EnrichedSignal` (what the bridge delivers) and `TradingSignal` (what a
strategy publishes). `register()` makes them serializable and streamable on a node's bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nautilus_trader.core.data import Data
from nautilus_trader.serialization.base import register_serializable_type

from workers.nautilus_bridge import payloads


class _Payload(Data):  # type: ignore[misc]  # nautilus_trader ships no stubs
    """A Data whose fields are one payload dict: to_dict/from_dict are the bridge's own shape."""

    TYPE: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]

    def __init__(self, **fields: Any) -> None:
        missing = [f for f in (*self.FIELDS, "ts_event", "ts_init") if f not in fields]
        if missing:
            raise ValueError(f"{self.TYPE} needs {missing}")
        self._fields = {f: fields[f] for f in (*self.FIELDS, "ts_event", "ts_init")}
        self._ts_event = int(fields["ts_event"])
        self._ts_init = int(fields["ts_init"])

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    @property
    def ts_event(self) -> int:
        return self._ts_event

    @property
    def ts_init(self) -> int:
        return self._ts_init

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **self._fields}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Any:
        return cls(**{k: v for k, v in values.items() if k != "type"})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.TYPE, self.ts_event, repr(sorted(self._fields.items()))))

    def __repr__(self) -> str:
        return f"{self.TYPE}({self._fields})"


class RegimeDecision(_Payload):
    """One regime.events record for a symbol (payloads.decision_payload): the regime it is in."""

    TYPE = payloads.DECISION_TYPE
    FIELDS = (
        "event_id", "event_type", "symbol", "run_id", "regime", "confidence", "decision",
        "candidate_regime", "error_code", "kafka_partition", "kafka_offset",
    )  # fmt: skip


class EnrichedSignal(_Payload):
    """One signals.enriched record (payloads.enriched_payload): the signal with meta_confidence."""

    TYPE = payloads.ENRICHED_TYPE
    FIELDS = (
        "signal_id", "strategy_id", "symbol", "direction", "strength", "price", "meta_confidence",
        "toxicity", "regime", "regime_weight", "regime_confidence", "model_version",
        "kafka_partition", "kafka_offset",
    )  # fmt: skip


class TradingSignal(_Payload):
    """What a strategy publishes for the fleet to enrich (payloads.signal_payload)."""

    TYPE = payloads.SIGNAL_TYPE
    FIELDS = ("strategy_id", "symbol", "direction", "strength", "price", "features")


class SnapshotRequest(_Payload):
    """An Actor's request, on start, for the latest decision per symbol (docs/nautilus.md)."""

    TYPE = payloads.SNAPSHOT_REQUEST_TYPE
    FIELDS = ("requester",)


TYPES: tuple[type[_Payload], ...] = (RegimeDecision, EnrichedSignal, TradingSignal, SnapshotRequest)
_registered: list[bool] = []


def register() -> None:
    """Register the types with Nautilus's serializer (once per process: it refuses a second time)."""
    if _registered:
        return
    for cls in TYPES:
        register_serializable_type(cls, cls.to_dict, cls.from_dict)
    _registered.append(True)


# A node's MessageBus copies the publishable types when it is built: importing this module
# before building the node (as the Actor's module does) is what makes them streamable.
register()
