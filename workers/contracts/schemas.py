"""Load the .avsc files of schemas/avro, expand cross-file references, cache parsed forms."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from workers.contracts.errors import SchemaNotFound

NAMESPACE = "regimefleet.v1"
SCHEMA_NAMES = (
    "RawMarketEvent",
    "RawInputBufferRecord",
    "EngineRunRecord",
    "OrchestratorEvent",
    "HysteresisStoreRecord",
    "SignalEvent",
    "EnrichedSignalEvent",
    "SignalOutcome",
    "RetrainTrigger",
    "ModelRecord",
    "ShadowScore",
    "ModelMetrics",
)


def schema_dir() -> Path:
    env = os.environ.get("REGIME_FLEET_SCHEMA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "schemas" / "avro"


@dataclass(frozen=True)
class Contract:
    """One schema: its full JSON (for registries), its parsed form and its fingerprint."""

    name: str
    schema: dict[str, Any]
    parsed: Any
    fingerprint: bytes  # CRC-64-AVRO of the parsing canonical form, little-endian


@cache
def contract(name: str, directory: str | None = None) -> Contract:
    root = Path(directory) if directory else schema_dir()
    schema = expand(name, root)
    pcf = to_parsing_canonical_form(schema)
    return Contract(
        name=name,
        schema=schema,
        # The codec reads and writes epoch-millis as plain longs: determinism over datetimes.
        parsed=parse_schema(without_logical_types(schema)),
        fingerprint=bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO")),
    )


def load_raw(name: str, root: Path) -> dict[str, Any]:
    path = root / f"{name}.avsc"
    if not path.exists():
        raise SchemaNotFound(name, str(root))
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def expand(name: str, root: Path) -> dict[str, Any]:
    """The schema with references to other files' records inlined at first use."""
    defined: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            short = node.removeprefix(f"{NAMESPACE}.")
            if short in SCHEMA_NAMES and short not in defined and (root / f"{short}.avsc").exists():
                return walk(load_raw(short, root))
            return node
        if isinstance(node, list):
            return [walk(n) for n in node]
        if isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed") and "name" in node:
                defined.add(str(node["name"]))
            out = {}
            for key, value in node.items():
                out[key] = walk(value) if key in ("type", "items", "values", "fields") else value
            return out
        return node

    expanded: dict[str, Any] = walk(load_raw(name, root))
    return expanded


def without_logical_types(node: Any) -> Any:
    if isinstance(node, list):
        return [without_logical_types(n) for n in node]
    if isinstance(node, dict):
        return {k: without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    return node
