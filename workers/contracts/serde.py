"""Avro on the wire: single-object encoding by default, Confluent Schema Registry framing on request.

Single-object encoding (Avro spec): C3 01, the 8-byte CRC-64-AVRO fingerprint of the writer
schema (little-endian), then the Avro binary body; readers need no registry. With a registry
URL configured, records carry Confluent framing instead (00, 4-byte schema id, body) so
`kcat -s value=avro -r URL` and Java consumers decode them.
"""

from __future__ import annotations

import enum
import io
import struct
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from workers.contracts.codec import compiled_codec
from workers.contracts.errors import DecodeError
from workers.contracts.schemas import Contract, contract, schema_dir, without_logical_types

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


@cache
def single_object_header(name: str) -> bytes:
    """The 10 bytes a single-object record of the current `name` schema starts with."""
    return SINGLE_OBJECT_MAGIC + contract(name).fingerprint


class _Settings(Protocol):
    """What Serde.of reads of FleetSettings (kafka: the registry; runtime: compiled_codec)."""

    kafka: Any
    runtime: Any


class WireFormat(enum.StrEnum):
    SINGLE_OBJECT = "single_object"
    CONFLUENT = "confluent"


class Serde:
    """Encodes and decodes contract records; one per process, shared by all workers."""

    def __init__(
        self,
        registry_url: str = "",
        registry_conf: Mapping[str, str] | None = None,
        *,
        compiled: bool = True,
    ):
        """`compiled`: write and read bodies with the compiled codec where it is installed
        (workers/contracts/codec.py); False: fastavro only (the reference)."""
        self.wire = WireFormat.CONFLUENT if registry_url else WireFormat.SINGLE_OBJECT
        self.compiled = compiled
        self._registry: Any = None
        self._ids: dict[tuple[str, str], int] = {}
        self._parsed: dict[int, Contract] = {}
        if registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient({"url": registry_url, **(registry_conf or {})})

    @classmethod
    def of(cls, settings: _Settings) -> Serde:
        """The codec a worker or tool with these settings uses (registry, compiled codec)."""
        return cls(
            settings.kafka.schema_registry_url,
            settings.kafka.registry_config(),
            compiled=settings.runtime.compiled_codec,
        )

    def encode(self, name: str, record: Mapping[str, Any], *, topic: str = "", check: bool = False) -> bytes:
        c = contract(name)
        if check:
            try:
                validate(record, c.parsed, raise_errors=True)
            except ValidationError as exc:
                raise DecodeError(_validation_reason(exc), schema=name, code="SCHEMA_INVALID") from exc
        body = io.BytesIO()
        if self.wire is WireFormat.CONFLUENT:
            body.write(CONFLUENT_MAGIC + struct.pack(">I", self._schema_id(c, topic)))
        else:
            body.write(SINGLE_OBJECT_MAGIC + c.fingerprint)
        codec = compiled_codec(name) if self.compiled else None
        written = codec.encode(record if type(record) is dict else dict(record)) if codec else None
        if written is not None:
            body.write(written)
            return body.getvalue()
        try:
            schemaless_writer(body, c.parsed, dict(record))
        except Exception as exc:
            if not check:
                raise
            # What validate passes but cannot be written: a lone surrogate, an int beyond a double.
            raise DecodeError(f"{type(exc).__name__}: {exc}", schema=name, code="SCHEMA_INVALID") from exc
        return body.getvalue()

    def encode_embedding(self, name: str, embedded: bytes, rest: Mapping[str, Any]) -> bytes | None:
        """Encode a record whose first field is a record already encoded as `embedded` (a
        single-object encoded value of the current schema), without decoding it again.
        None when `embedded` is in another wire format or an older schema."""
        c = contract(name)
        first = c.schema["fields"][0]["type"]
        inner = contract(first.rsplit(".", 1)[-1] if isinstance(first, str) else first["name"])
        if (
            self.wire is not WireFormat.SINGLE_OBJECT
            or embedded[:10] != SINGLE_OBJECT_MAGIC + inner.fingerprint
        ):
            return None
        body = io.BytesIO()
        body.write(SINGLE_OBJECT_MAGIC + c.fingerprint)
        body.write(embedded[10:])
        schemaless_writer(body, _tail_schema(c.name), dict(rest))
        return body.getvalue()

    def decode(
        self,
        name: str,
        data: bytes | None,
        *,
        topic: str = "",
        partition: int = -1,
        offset: int = -1,
    ) -> dict[str, Any]:
        where: dict[str, Any] = {"schema": name, "topic": topic, "partition": partition, "offset": offset}
        if not data:
            raise DecodeError("empty value", **where)
        reader = contract(name)
        if data[:2] == SINGLE_OBJECT_MAGIC:
            writer = _by_fingerprint().get(data[2:10])
            if writer is None:
                raise DecodeError(
                    f"unknown schema fingerprint {data[2:10].hex()}", code="UNKNOWN_SCHEMA", **where
                )
            body = data[10:]
        elif data[:1] == CONFLUENT_MAGIC and self._registry is not None:
            if len(data) < 5:
                raise DecodeError(f"Confluent header cut short ({len(data)} bytes)", **where)
            writer = self._registry_parsed(struct.unpack(">I", data[1:5])[0], where)
            body = data[5:]
        else:
            raise DecodeError(f"not a {self.wire} Avro record (starts {data[:2].hex()})", **where)
        same = writer.fingerprint == reader.fingerprint
        codec = compiled_codec(name) if self.compiled and same else None
        value = codec.decode(body) if codec is not None else None
        if type(value) is not dict:
            value = self._fastavro_decode(writer, None if same else reader, body, where)
        ints_fit = _ints_fit(name)
        if ints_fit is not None and not ints_fit(value):
            raise DecodeError("an int field holds a value beyond 32 bits", **where)
        return value

    @staticmethod
    def _fastavro_decode(
        writer: Contract, reader: Contract | None, body: bytes, where: dict[str, Any]
    ) -> Any:
        """The reference decode; `reader` None: the writer's schema (no resolution, which costs
        fastavro about half the decode)."""
        try:
            stream = io.BytesIO(body)
            value = schemaless_reader(stream, writer.parsed, reader.parsed if reader else None)
        except Exception as exc:
            raise DecodeError(f"{type(exc).__name__}: {exc}", **where) from exc
        if not isinstance(value, dict):
            raise DecodeError("decoded to a non-record value", **where)
        if stream.tell() != len(body):
            raise DecodeError(f"{len(body) - stream.tell()} bytes after the record", **where)
        return value

    def _schema_id(self, c: Contract, topic: str) -> int:
        from confluent_kafka.schema_registry import Schema

        key = (c.name, topic)
        if key not in self._ids:
            subject = f"{topic}-value" if topic else f"{c.name}-value"
            import json

            self._ids[key] = self._registry.register_schema(subject, Schema(json.dumps(c.schema), "AVRO"))
        return self._ids[key]

    def _registry_parsed(self, schema_id: int, where: dict[str, Any]) -> Contract:
        import json

        from confluent_kafka.schema_registry.error import SchemaRegistryError
        from fastavro import parse_schema

        if schema_id in self._parsed:
            return self._parsed[schema_id]
        try:
            s = self._registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise  # the registry is down or refuses us: retry, do not dead-letter the record
            raise DecodeError(
                f"no schema {schema_id} in the registry", code="UNKNOWN_SCHEMA", **where
            ) from exc
        try:
            schema = json.loads(s.schema_str)
            parsed = parse_schema(without_logical_types(schema))
        except Exception as exc:
            raise DecodeError(
                f"registry schema {schema_id} is not Avro: {exc}", code="UNKNOWN_SCHEMA", **where
            ) from exc
        c = Contract(name=str(schema.get("name")), schema=schema, parsed=parsed, fingerprint=b"")
        self._parsed[schema_id] = c
        return c


@cache
def _tail_schema(name: str) -> Any:
    """The record's fields after the first, as a record of their own: the same bytes."""
    from fastavro import parse_schema

    c = contract(name)
    tail = {**c.schema, "name": f"{c.name}Tail", "fields": c.schema["fields"][1:]}
    return parse_schema(without_logical_types(tail))


@cache
def _by_fingerprint() -> dict[bytes, Contract]:
    """Every known writer schema, current and frozen, by fingerprint."""
    known: dict[bytes, Contract] = {}
    root = schema_dir()
    for directory in (root / "frozen" / "v1", root):
        for path in sorted(directory.glob("*.avsc")):
            c = contract(path.stem, str(directory))
            known[c.fingerprint] = c
    return known


Check = Callable[[Any], bool]
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@cache
def _ints_fit(name: str) -> Check | None:
    """Whether every Avro int of a decoded `name` fits in 32 bits (fastavro reads an int as a
    long and does not check); None for a schema without ints. Only int fields are visited."""
    return _int_check(contract(name).schema, {})


def _int_check(schema: Any, named: dict[str, Check | None]) -> Check | None:
    if isinstance(schema, list):
        branches = [c for c in (_int_check(s, named) for s in schema) if c is not None]
        return (lambda v: all(c(v) for c in branches)) if branches else None
    if isinstance(schema, str):
        if schema == "int":
            return lambda v: not isinstance(v, int) or INT_MIN <= v <= INT_MAX
        return named.get(schema.rsplit(".", 1)[-1])
    kind = schema["type"]
    if kind not in ("record", "array", "map", "enum", "fixed"):
        return _int_check(kind, named)
    check: Check | None = None
    if kind == "record":
        fields = [(f["name"], c) for f in schema["fields"] if (c := _int_check(f["type"], named))]

        def record(v: Any) -> bool:
            return not isinstance(v, dict) or all(c(v.get(n)) for n, c in fields)

        check = record if fields else None
    elif kind in ("array", "map"):
        inner = _int_check(schema["items"] if kind == "array" else schema["values"], named)

        def items(v: Any) -> bool:
            values = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
            return all(inner(x) for x in values) if inner else True

        check = items if inner else None
    if "name" in schema:
        named[schema["name"].rsplit(".", 1)[-1]] = check
    return check


def _validation_reason(exc: ValidationError) -> str:
    errors = getattr(exc, "errors", None) or [str(exc)]
    return "; ".join(str(e) for e in errors)[:500]
