"""Typed contract errors; each says what failed, where, and what to do."""

from __future__ import annotations


class ContractError(Exception):
    """Base class for everything that breaks a contract."""


class SchemaNotFound(ContractError):
    def __init__(self, name: str, directory: str) -> None:
        super().__init__(f"no schema {name!r} in {directory}: add {name}.avsc or fix the name")
        self.name = name


class DecodeError(ContractError):
    """Bytes that are not a record of the expected schema."""

    def __init__(
        self,
        reason: str,
        *,
        schema: str,
        topic: str = "",
        partition: int = -1,
        offset: int = -1,
        code: str = "UNDECODABLE",
    ) -> None:
        where = f" at {topic}[{partition}]@{offset}" if topic else ""
        super().__init__(f"cannot decode {schema}{where}: {reason}")
        self.reason = reason
        self.code = code
        self.schema = schema
        self.topic = topic
        self.partition = partition
        self.offset = offset


class InvalidEvent(ContractError):
    """A record that decodes but breaks a semantic rule (e.g. a negative price)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
