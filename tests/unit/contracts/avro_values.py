"""Hypothesis strategies of the values an Avro schema admits, for the contract tests (the
fuzzing of Serde, and the compiled codec against fastavro)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from workers.contracts import contract
from workers.contracts.schemas import without_logical_types

PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32),
    "double": st.floats(),
    "bytes": st.binary(max_size=20),
    "string": st.text(max_size=12),
}


def avro_values(
    schema: Any, names: dict[str, st.SearchStrategy[Any]], odd: st.SearchStrategy[Any] | None = None
) -> Any:
    """Any value the Avro schema admits; named types are remembered where they are defined.
    `odd`: now and then (one value in four) one of these in a value's place instead."""
    if isinstance(schema, list):
        return _now_and_then(st.one_of([avro_values(s, names, odd) for s in schema]), odd)
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return _now_and_then(PRIMITIVES[schema], odd)
        return names[schema.rsplit(".", 1)[-1]]
    kind = schema["type"]
    if not isinstance(kind, str) or kind in PRIMITIVES:
        return avro_values(kind, names, odd)
    strategy: st.SearchStrategy[Any]
    if kind == "record":
        strategy = st.fixed_dictionaries(
            {f["name"]: avro_values(f["type"], names, odd) for f in schema["fields"]}
        )
    elif kind == "enum":
        strategy = st.sampled_from(schema["symbols"])
    elif kind == "fixed":
        strategy = st.binary(min_size=schema["size"], max_size=schema["size"])
    elif kind == "array":
        strategy = st.lists(avro_values(schema["items"], names, odd), max_size=3)
    else:
        strategy = st.dictionaries(st.text(max_size=5), avro_values(schema["values"], names, odd), max_size=3)
    strategy = _now_and_then(strategy, odd)
    if "name" in schema:
        names[schema["name"]] = strategy
    return strategy


def schema_values(name: str, odd: st.SearchStrategy[Any] | None = None) -> Any:
    """Records of the `name` contract (see avro_values)."""
    return avro_values(without_logical_types(contract(name).schema), {}, odd)


def _now_and_then(made: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] | None) -> st.SearchStrategy[Any]:
    return made if odd is None else st.one_of(made, made, made, odd)
