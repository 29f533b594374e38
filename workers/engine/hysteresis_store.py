"""The engine's hysteresis store: HysteresisStoreRecord v1 (Avro) values, checked on restore."""

from __future__ import annotations

from typing import Any

from workers.contracts import DecodeError, Serde
from workers.processing import StoreCorruption
from workers.regime.persistence import HysteresisRecordError, newer, validate

STORE = "hysteresis"


class HysteresisCodec:
    def __init__(self, serde: Serde) -> None:
        self.serde = serde

    def encode(self, value: Any) -> bytes:
        return self.serde.encode("HysteresisStoreRecord", value)

    def decode(self, data: bytes) -> Any:
        try:
            record = self.serde.decode("HysteresisStoreRecord", data)
            validate(record)
        except (DecodeError, HysteresisRecordError) as exc:
            raise StoreCorruption(f"hysteresis record is corrupt: {exc}") from exc
        return record

    def accept(self, current: Any, new: Any) -> bool:
        return newer(current, new)
