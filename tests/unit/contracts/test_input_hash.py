"""The input hash's two versions (docs/contracts.md), and the run record's version field."""

from __future__ import annotations

import hashlib
import io

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.demo.data import synthetic_intraday
from tests.samples import planned_run
from workers.contracts import Serde, contract
from workers.contracts.identity import chain_input_hash
from workers.contracts.input_hash import V1, V2, UnknownInputHashVersion, event_avro, fold
from workers.contracts.json_form import dumps
from workers.contracts.schemas import schema_dir

EVENTS = synthetic_intraday(2, 240, snapshot_every=60)
TEXT = st.text(max_size=40)  # any unicode: the slice must count UTF-8 bytes, not characters
LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def _buffered(event, topic="market.raw", partition=0, offset=0, ingest_ts=0, corr=""):
    return {
        "event": event,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "ingest_ts_ms": ingest_ts,
        "correlation_id": corr,
    }


def _avro(event):
    out = io.BytesIO()
    schemaless_writer(out, contract("RawMarketEvent").parsed, event)
    return out.getvalue()


def test_v1_is_the_canonical_json_chain_it_always_was():
    digest = ""
    for e in EVENTS[:10]:
        digest = fold(V1, digest, e, _buffered(e), Serde().encode("RawInputBufferRecord", _buffered(e)))
    expected = ""
    for e in EVENTS[:10]:
        expected = hashlib.sha256((expected + dumps(e)).encode()).hexdigest()
    assert digest == expected == _chain(V1, EVENTS[:10])


def test_v2_is_the_sha256_chain_over_each_events_avro_bytes():
    expected = ""
    for e in EVENTS[:10]:
        expected = hashlib.sha256(expected.encode() + _avro(e)).hexdigest()
    assert _chain(V2, EVENTS[:10]) == expected
    assert expected != _chain(V1, EVENTS[:10])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EVENTS), TEXT, INT, LONG, LONG, TEXT, TEXT)
def test_v2_slices_exactly_the_bytes_it_would_encode(event, topic, partition, offset, ingest_ts, corr, sym):
    """From the stored bytes (what the live scheduler has) and from the decoded record (what
    the in-memory driver has), the same bytes: whatever the fields after the event hold."""
    event = {**event, "symbol": sym or "S", "source": corr}
    buffered = _buffered(event, topic, partition, offset, ingest_ts, corr)
    raw = Serde().encode("RawInputBufferRecord", buffered)
    decoded = Serde().decode("RawInputBufferRecord", raw)
    assert event_avro(decoded["event"], decoded, raw) == _avro(event) == event_avro(event)
    assert fold(V2, "h", decoded["event"], decoded, raw) == fold(V2, "h", event)


def test_v2_encodes_when_the_stored_bytes_are_not_the_current_single_object_form():
    e = EVENTS[0]
    confluent = b"\x00\x00\x00\x00\x01" + Serde().encode("RawInputBufferRecord", _buffered(e))[10:]
    assert event_avro(e, _buffered(e), confluent) == _avro(e)


def test_an_unknown_version_is_refused_by_name():
    with pytest.raises(UnknownInputHashVersion, match="input_hash_version 3"):
        fold(3, "", EVENTS[0])


def test_a_run_record_written_before_the_version_field_reads_as_v1():
    """Evolution: the frozen v1 EngineRunRecord has no input_hash_version; its records decode
    with the current reader as version 1, and a current record keeps its 2."""
    frozen = contract("EngineRunRecord", str(schema_dir() / "frozen" / "v1"))
    assert "input_hash_version" not in {f["name"] for f in frozen.schema["fields"]}
    old = {k: v for k, v in planned_run().items() if k != "input_hash_version"}
    body = io.BytesIO()
    schemaless_writer(body, frozen.parsed, old)
    data = b"\xc3\x01" + frozen.fingerprint + body.getvalue()
    assert Serde().decode("EngineRunRecord", data) == {**old, "input_hash_version": 1}
    current = Serde().encode("EngineRunRecord", planned_run())
    assert current[2:10] != frozen.fingerprint
    assert Serde().decode("EngineRunRecord", current)["input_hash_version"] == 2


def _chain(version, events):
    digest = ""
    for e in events:
        digest = chain_input_hash(digest, e) if version == V1 else fold(V2, digest, e)
    return digest


def test_v2_encodes_when_the_fields_after_the_event_are_not_where_their_lengths_say():
    """A buffer record whose tail is not canonical (a non-minimal varint) is not sliced."""
    e = EVENTS[0]
    buffered = _buffered(e, offset=1)
    raw = Serde().encode("RawInputBufferRecord", buffered)
    cut = len(raw) - len(_tail(buffered))
    padded = raw[:cut] + b"\x14market.raw" + b"\x80\x00" + raw[cut + 11 + 1 :]  # partition 0 as 2 bytes
    assert Serde().decode("RawInputBufferRecord", padded) == Serde().decode("RawInputBufferRecord", raw)
    assert event_avro(e, buffered, padded) == _avro(e)


def _tail(buffered):
    from fastavro import parse_schema

    schema = contract("RawInputBufferRecord").schema
    tail = {**schema, "name": "Tail", "fields": schema["fields"][1:]}
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(tail), {k: v for k, v in buffered.items() if k != "event"})
    return out.getvalue()
