"""The v1 Avro contracts: schema loading, wire formats, canonical JSON and validation."""

from workers.contracts.errors import ContractError, DecodeError, InvalidEvent, SchemaNotFound
from workers.contracts.schemas import SCHEMA_NAMES, Contract, contract
from workers.contracts.serde import Serde, WireFormat

__all__ = [
    "SCHEMA_NAMES",
    "Contract",
    "ContractError",
    "DecodeError",
    "InvalidEvent",
    "SchemaNotFound",
    "Serde",
    "WireFormat",
    "contract",
]
