"""The scheduler's compiled projection of market.buffer (native/, `regime_fleet_native`), when
it is installed: a buffered record's symbol, times, kind, snapshot time and tail fields, read
without decoding its trade, quote, bar or snapshot window (half of the scheduler's CPU was the
full decode). Records it cannot vouch for are decoded in full by the runtime, and the one
reader of every field, the v1 input hash of a cut open across the upgrade, decodes its records
in full (`full_event`), so the core's outputs are those of the full decode:
tests/unit/test_native_projection.py proves the fields equal, tests/unit/scheduler/
test_projection.py the scheduler's outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.contracts.serde import Serde, single_object_header
from workers.processing import Record
from workers.processing.projection import Projection

BUFFER_SCHEMA = "RawInputBufferRecord"
_SERDE = Serde()  # projected records are single-object encoded: no registry needed


def load(compiled: bool) -> tuple[Projection | None, str]:
    """The compiled projection, or None, and a sentence saying which decode the scheduler runs."""
    if not compiled:
        return None, "the full decode: scheduler.compiled is false"
    try:
        import regime_fleet_native
    except ImportError as exc:
        return None, (
            f"the full decode: the compiled projection is not installed ({exc}); "
            "`make venv` builds it where cargo is on PATH (native/)"
        )
    projector = regime_fleet_native.BufferProjector(single_object_header(BUFFER_SCHEMA))
    project: Projection = projector.project
    return project, "the compiled projection (regime_fleet_native)"


def full_event(record: Record) -> Mapping[str, Any]:
    """The record's whole event, for what reads every field (the v1 input hash of a cut that
    was open across the upgrade): a projected event (no `source`, which the full decode always
    holds) is decoded in full from the record's bytes."""
    event: Mapping[str, Any] = record.value["event"]
    return event if "source" in event else decoded_event(record.raw)


def decoded_event(raw: bytes) -> Mapping[str, Any]:
    """The whole event of a buffered record, decoded in full from its bytes."""
    full: Mapping[str, Any] = _SERDE.decode(BUFFER_SCHEMA, raw)["event"]
    return full
