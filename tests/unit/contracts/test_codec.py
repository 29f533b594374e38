"""The compiled Avro codec (native/, Codec) against fastavro, the reference, through Serde: for
every contract, over arbitrary and real records, the same bytes; over values of other types
and over damaged bodies, the same outcome (the same value or the same error), never another
value. Values are compared with their types (True is not 1, 1.0 is not 1) and floats by bits.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.data import synthetic_intraday
from tests.samples import planned_run, regime_event, result_event, trade_event
from tests.unit.contracts.avro_values import schema_values
from tests.unit.native_build import native_module
from workers.contracts import SCHEMA_NAMES, DecodeError, Serde
from workers.contracts.codec import compiled_codec

NATIVE = native_module()

NAMES = sorted(SCHEMA_NAMES)
COMPILED, REFERENCE = Serde(), Serde(compiled=False)
ODD = st.sampled_from(
    [None, True, False, 0, -1, 2**40, 2**70, 1.5, float("nan"), "", "x", b"x", [], {}, ("x", 1)]
)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _typed(value: Any) -> Any:
    """The value with every type spelled out, floats by their bits."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    return (type(value).__name__, value)


def _outcome(call: Any) -> Any:
    try:
        return ("ok", _typed(call()))
    except Exception as exc:  # the outcome compared is the error's kind and message
        return ("error", type(exc).__name__, re.sub(r" at 0x[0-9a-f]+", "", str(exc)))


def test_every_contract_has_a_compiled_codec() -> None:
    assert NAMES and all(compiled_codec(name) is not None for name in NAMES), NAMES


def test_a_schema_the_codec_does_not_take_is_refused_at_construction() -> None:
    """Serde then keeps to fastavro for it (compiled_codec gives None)."""
    linked = {"type": "record", "name": "Link", "fields": [{"name": "next", "type": ["null", "Link"]}]}
    with pytest.raises(ValueError, match="recursive"):
        NATIVE.Codec(linked)
    with pytest.raises(ValueError, match="no type"):
        NATIVE.Codec({"name": "x"})


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_arbitrary_records_encode_to_the_same_bytes_and_decode_to_the_same_values(
    name: str, data: Any
) -> None:
    record = data.draw(schema_values(name))
    reference = _outcome(lambda: REFERENCE.encode(name, record))
    assert _outcome(lambda: COMPILED.encode(name, record)) == reference
    if reference[0] == "ok":
        encoded = REFERENCE.encode(name, record)
        assert _outcome(lambda: COMPILED.decode(name, encoded)) == _outcome(
            lambda: REFERENCE.decode(name, encoded)
        )


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_values_of_other_types_get_what_fastavro_gives(name: str, data: Any) -> None:
    record = data.draw(schema_values(name, ODD))
    for check in (False, True):
        compiled = _outcome(lambda: COMPILED.encode(name, record, check=check))  # noqa: B023
        assert compiled == _outcome(lambda: REFERENCE.encode(name, record, check=check))  # noqa: B023


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_damaged_bodies_decode_as_fastavro_decodes_them(name: str, data: Any) -> None:
    encoded = bytearray(REFERENCE.encode(name, data.draw(schema_values(name))))
    cut = data.draw(st.integers(10, len(encoded)))
    damage = data.draw(st.sampled_from(["truncate", "flip", "append", "none"]))
    if damage == "truncate":
        encoded = encoded[:cut]
    elif damage == "flip" and cut < len(encoded):
        encoded[cut] ^= data.draw(st.integers(1, 255))
    elif damage == "append":
        encoded += data.draw(st.binary(min_size=1, max_size=3))
    body = bytes(encoded)
    reference = _outcome(lambda: REFERENCE.decode(name, body))
    assert _outcome(lambda: COMPILED.decode(name, body)) == reference
    if reference[0] == "error":
        with pytest.raises(DecodeError):
            COMPILED.decode(name, body)


def test_real_records_take_the_compiled_path_and_agree() -> None:
    """The fleet's own records: the bench's market data, runs, results, regime events."""
    events = synthetic_intraday(3, 120, snapshot_every=20, window=30)
    buffered = [
        {
            "event": e,
            "source_topic": "market.raw",
            "source_partition": 0,
            "source_offset": i,
            "ingest_ts_ms": e["event_ts_ms"] + 5,
            "correlation_id": f"c{i}",
        }
        for i, e in enumerate(events)
    ]
    taken = [("RawMarketEvent", e) for e in events] + [("RawInputBufferRecord", b) for b in buffered]
    taken += [("RawMarketEvent", trade_event()), ("EngineRunRecord", planned_run())]
    taken += [("OrchestratorEvent", regime_event(2_000, "RANGE", 0.61))]
    # A sample that leaves defaulted fields out: fastavro fills the defaults, the codec defers.
    deferred = [("OrchestratorEvent", result_event(1_000, "EngineRunCompleted"))]
    for name, record in taken + deferred:
        codec = compiled_codec(name)
        assert codec is not None
        encoded = REFERENCE.encode(name, record)
        assert codec.encode(record) == (encoded[10:] if (name, record) in taken else None), name
        assert COMPILED.encode(name, record) == encoded
        assert codec.decode(encoded[10:]) is not None, name
        assert _typed(COMPILED.decode(name, encoded)) == _typed(REFERENCE.decode(name, encoded))
