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
from collections.abc import Mapping
from functools import cache
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from workers.contracts.errors import DecodeError
from workers.contracts.schemas import Contract, contract, schema_dir, without_logical_types

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class WireFormat(enum.StrEnum):
    SINGLE_OBJECT = "single_object"
    CONFLUENT = "confluent"


class Serde:
    """Encodes and decodes contract records; one per process, shared by all workers."""

    def __init__(self, registry_url: str = "", registry_conf: Mapping[str, str] | None = None):
        self.wire = WireFormat.CONFLUENT if registry_url else WireFormat.SINGLE_OBJECT
        self._registry: Any = None
        self._ids: dict[tuple[str, str], int] = {}
        if registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient({"url": registry_url, **(registry_conf or {})})

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
        schemaless_writer(body, c.parsed, dict(record))
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
            writer = self._registry_parsed(struct.unpack(">I", data[1:5])[0])
            body = data[5:]
        else:
            raise DecodeError(f"not a {self.wire} Avro record (starts {data[:2].hex()})", **where)
        try:
            # Same schema: skip fastavro's resolution path, which costs about half the decode.
            resolved = None if writer.fingerprint == reader.fingerprint else reader.parsed
            value = schemaless_reader(io.BytesIO(body), writer.parsed, resolved)
        except Exception as exc:
            raise DecodeError(f"{type(exc).__name__}: {exc}", **where) from exc
        if not isinstance(value, dict):
            raise DecodeError("decoded to a non-record value", **where)
        return value

    def _schema_id(self, c: Contract, topic: str) -> int:
        from confluent_kafka.schema_registry import Schema

        key = (c.name, topic)
        if key not in self._ids:
            subject = f"{topic}-value" if topic else f"{c.name}-value"
            import json

            self._ids[key] = self._registry.register_schema(subject, Schema(json.dumps(c.schema), "AVRO"))
        return self._ids[key]

    def _registry_parsed(self, schema_id: int) -> Contract:
        import json

        from fastavro import parse_schema

        s = self._registry.get_schema(schema_id)
        schema = json.loads(s.schema_str)
        return Contract(
            name=str(schema.get("name")),
            schema=schema,
            parsed=parse_schema(without_logical_types(schema)),
            fingerprint=b"",
        )


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


def _validation_reason(exc: ValidationError) -> str:
    errors = getattr(exc, "errors", None) or [str(exc)]
    return "; ".join(str(e) for e in errors)[:500]
