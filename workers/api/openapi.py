"""The OpenAPI document: generated from the app, committed as docs/openapi.json
(`regime-fleet api openapi > docs/openapi.json`); a test fails when the two differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from workers.contracts import contract

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def customise(app: FastAPI) -> None:
    """Add what routes cannot declare: the RawMarketEvent and EnrichedSignalEvent schemas
    (from their Avro contracts) and the bearer scheme."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = doc.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas["RawMarketEvent"] = json_schema(contract("RawMarketEvent").schema)
            schemas["EnrichedSignalView"] = {
                "allOf": [
                    json_schema(contract("EnrichedSignalEvent").schema),
                    {
                        "type": "object",
                        "properties": {"partition": {"type": "integer"}, "offset": {"type": "integer"}},
                        "required": ["partition", "offset"],
                    },
                ],
                "description": "An EnrichedSignalEvent in its canonical JSON form, with its partition and offset.",
            }
            components["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token of api.tokens / api.tokens_file; writes always, reads when api.protect_reads.",
                }
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def json_schema(avro: Any, named: dict[str, Any] | None = None) -> dict[str, Any]:
    """The canonical JSON form of an Avro type as JSON Schema: unions with null are nullable,
    fields are required unless null is allowed; extra fields pass (the codec ignores them)."""
    named = {} if named is None else named
    if isinstance(avro, str):
        simple = {
            "string": "string",
            "long": "integer",
            "int": "integer",
            "double": "number",
            "float": "number",
            "boolean": "boolean",
            "null": "null",
            "bytes": "string",
        }
        return {"type": simple[avro]} if avro in simple else named[avro.rsplit(".", 1)[-1]]
    if isinstance(avro, list):
        return {"anyOf": [json_schema(a, named) for a in avro]}
    kind = avro["type"]
    if kind == "record":
        props = {f["name"]: json_schema(f["type"], named) for f in avro["fields"]}
        required = [f["name"] for f in avro["fields"] if not _nullable(f["type"]) and "default" not in f]
        out: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if avro.get("doc"):
            out["description"] = avro["doc"]
    elif kind == "enum":
        out = {"type": "string", "enum": list(avro["symbols"])}
    elif kind == "array":
        out = {"type": "array", "items": json_schema(avro["items"], named)}
    elif kind == "map":
        out = {"type": "object", "additionalProperties": json_schema(avro["values"], named)}
    else:
        return json_schema(kind, named)
    if "name" in avro:
        named[avro["name"]] = out
    return out


def _nullable(avro: Any) -> bool:
    return avro == "null" or (isinstance(avro, list) and "null" in avro)


def document() -> dict[str, Any]:
    from .app import create_app

    return create_app().openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
