"""Additive-only evolution: what makes a new schema incompatible with its frozen v1 copy.

Rules: no field removed or renamed; no field type changed; every new field has a default;
no enum symbol removed. Checked recursively through records, unions, arrays and maps.
"""

from __future__ import annotations

from typing import Any


def incompatibilities(old: Any, new: Any, where: str = "") -> list[str]:
    """Human-readable reasons `new` cannot read data written with `old` (empty: compatible)."""
    if isinstance(old, dict) and isinstance(new, dict):
        if old.get("type") != new.get("type"):
            return [f"{where or '/'}: type {old.get('type')} became {new.get('type')}"]
        kind = old.get("type")
        if kind == "record":
            return _records(old, new, where)
        if kind == "enum":
            removed = sorted(set(old["symbols"]) - set(new["symbols"]))
            return [f"{where}: enum symbols removed {removed}"] if removed else []
        if kind == "array":
            return incompatibilities(old["items"], new["items"], f"{where}[]")
        if kind == "map":
            return incompatibilities(old["values"], new["values"], f"{where}{{}}")
        return (
            incompatibilities(old.get("type"), new.get("type"), where)
            if isinstance(old.get("type"), dict)
            else []
        )
    if isinstance(old, list) and isinstance(new, list):
        problems = []
        for branch in old:
            match = next((b for b in new if _name(b) == _name(branch)), None)
            if match is None:
                problems.append(f"{where}: union branch {_name(branch)} removed")
            else:
                problems += incompatibilities(branch, match, where)
        return problems
    if _name(old) != _name(new):
        return [f"{where or '/'}: type {_name(old)} became {_name(new)}"]
    return []


def _records(old: dict[str, Any], new: dict[str, Any], where: str) -> list[str]:
    problems = []
    new_fields = {f["name"]: f for f in new["fields"]}
    old_names = {f["name"] for f in old["fields"]}
    for field in old["fields"]:
        path = f"{where}.{field['name']}"
        if field["name"] not in new_fields:
            problems.append(f"{path}: field removed or renamed")
        else:
            problems += incompatibilities(field["type"], new_fields[field["name"]]["type"], path)
    for name, field in new_fields.items():
        if name not in old_names and "default" not in field:
            problems.append(f"{where}.{name}: new field without a default")
    return problems


def _name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return str(schema)
