"""The scheduler's compiled projection of a market.buffer record (native/, BufferProjector)
against the full decode, Serde.decode: over real and arbitrary records it gives exactly the
fields the scheduler reads; over damaged bytes it gives those fields or None, never another
value and never an exception. It answers for the decode, not for ingest's validation: a record
ingest would refuse (two members set, a crossed quote) still projects.
"""

from __future__ import annotations

import hashlib
import io
import struct
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.data import synthetic_intraday
from tests.unit.native_build import native_module
from workers.contracts import DecodeError, Serde, input_hash
from workers.contracts.input_hash import V2
from workers.contracts.schemas import contract
from workers.contracts.serde import single_object_header

regime_fleet_native = native_module()

BUFFER = "RawInputBufferRecord"
SERDE = Serde()
PREFIX = single_object_header(BUFFER)
PROJECTOR = regime_fleet_native.BufferProjector(PREFIX)
REAL = synthetic_intraday(3, 120, snapshot_every=20, window=3)  # every kind
KINDS = ["TRADE", "QUOTE", "BAR", "SNAPSHOT_INPUTS"]
SIDES = ["BUY", "SELL", "UNKNOWN"]
MEMBERS = ("trade", "quote", "bar", "snapshot_inputs")
BAR_FIELDS = ("open", "high", "low", "close", "volume")
QUOTE_FIELDS = ("bid_price", "bid_size", "ask_price", "ask_size")
REST = {
    "source_topic": "market.raw",
    "source_partition": 1,
    "source_offset": 2**40,
    "ingest_ts_ms": -1,
    "correlation_id": "évt-ü",
}
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def subset(decoded: dict[str, Any]) -> dict[str, Any]:
    """What the projection gives: the decoded record without the event's trade, quote, bar and
    source, and without snapshot_inputs' window."""
    event = decoded["event"]
    inputs = event["snapshot_inputs"]
    return {
        "event": {
            "event_id": event["event_id"],
            "symbol": event["symbol"],
            "event_ts_ms": event["event_ts_ms"],
            "kind": event["kind"],
            "snapshot_inputs": None if inputs is None else {"as_of_ts_ms": inputs["as_of_ts_ms"]},
        },
        "source_topic": decoded["source_topic"],
        "source_partition": decoded["source_partition"],
        "source_offset": decoded["source_offset"],
        "ingest_ts_ms": decoded["ingest_ts_ms"],
        "correlation_id": decoded["correlation_id"],
    }


def _decoded(value: bytes) -> dict[str, Any] | None:
    """The full decode's subset, or None where Serde.decode refuses the value."""
    try:
        return subset(SERDE.decode(BUFFER, value))
    except DecodeError:
        return None


def _same(projected: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    """Equal, with the same keys in the same order and the same types (repr tells int from bool)."""
    assert projected == expected
    assert repr(projected) == repr(expected)


def _projects(value: bytes) -> None:
    _same(PROJECTOR.project(value), subset(SERDE.decode(BUFFER, value)))


def _agrees(value: bytes) -> dict[str, Any] | None:
    """Damaged bytes: None, or exactly what the full decode gives (which then succeeds)."""
    projected = PROJECTOR.project(value)
    if projected is not None:
        _same(projected, _decoded(value))
    return projected


def _record(event: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, **rest}


def _encoded(record: dict[str, Any]) -> bytes:
    return SERDE.encode(BUFFER, record)


# -- the body, written by hand a primitive at a time (to re-block windows and mutate fields) --


def _long(n: int) -> bytes:
    zigzag = (n << 1) ^ (n >> 63)
    out = bytearray()
    while zigzag >= 0x80:
        out.append(zigzag & 0x7F | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def _string(s: str) -> bytes:
    data = s.encode()
    return _long(len(data)) + data


def _double(x: float) -> bytes:
    return struct.pack("<d", x)


def _bar(bar: dict[str, Any]) -> list[bytes]:
    return [*(_double(bar[f]) for f in BAR_FIELDS), _long(bar["interval_ms"])]


Blocks = list[tuple[int, bool, int]]  # per block of the window: bars, negative count, size error


def _window(bars: list[dict[str, Any]], blocks: Blocks | None) -> list[bytes]:
    """The array's blocks (fastavro writes one, of a positive count); a negative count is
    followed by the block's byte size, here off by `error`, which readers do not use."""
    if blocks is None:
        blocks = [(len(bars), False, 0)] if bars else []
    out: list[bytes] = []
    start = 0
    for count, negative, error in blocks:
        items = [t for bar in bars[start : start + count] for t in _bar(bar)]
        start += count
        size = sum(map(len, items)) + error
        out += [_long(-count), _long(size)] if negative else [_long(count)]
        out += items
    assert start == len(bars)
    return [*out, _long(0)]


def _tokens(record: dict[str, Any], blocks: Blocks | None = None) -> list[bytes]:
    """The record's body, one token per primitive."""
    event = record["event"]
    out = [
        _string(event["event_id"]),
        _string(event["symbol"]),
        _long(event["event_ts_ms"]),
        _long(KINDS.index(event["kind"])),
    ]
    for member in MEMBERS:
        value = event[member]
        out.append(_long(value is not None))
        if value is None:
            continue
        if member == "trade":
            out += [_double(value["price"]), _double(value["size"]), _long(SIDES.index(value["side"]))]
        elif member == "quote":
            out += [_double(value[f]) for f in QUOTE_FIELDS]
        elif member == "bar":
            out += _bar(value)
        else:
            out += [_long(value["as_of_ts_ms"]), *_window(value["window"], blocks)]
    out += [_string(event["source"]), _string(record["source_topic"]), _long(record["source_partition"])]
    out += [_long(record["source_offset"]), _long(record["ingest_ts_ms"]), _string(record["correlation_id"])]
    return out


# -- strategies -------------------------------------------------------------------------------

TEXT = st.one_of(
    st.sampled_from(["", " ", "market.raw", "é", "évt-ü", "日本語", "\U0010ffff", "a\x00b"]),
    st.text(max_size=8),
)
NUMBER = st.one_of(
    st.sampled_from([0.0, -0.0, -1.0, 1.0, 1e308, float("inf"), float("-inf"), float("nan")]), st.floats()
)
LONG = st.one_of(
    st.sampled_from([0, -1, 1, 63, 64, -65, 2**40, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1)
)
INT = st.one_of(st.sampled_from([0, 1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))
BAR = st.fixed_dictionaries({**dict.fromkeys(BAR_FIELDS, NUMBER), "interval_ms": LONG})
MEMBER = {
    "trade": st.fixed_dictionaries({"price": NUMBER, "size": NUMBER, "side": st.sampled_from(SIDES)}),
    "quote": st.fixed_dictionaries(dict.fromkeys(QUOTE_FIELDS, NUMBER)),
    "bar": BAR,
    "snapshot_inputs": st.fixed_dictionaries({"as_of_ts_ms": LONG, "window": st.lists(BAR, max_size=4)}),
}
RESTS = st.fixed_dictionaries(
    {
        "source_topic": TEXT,
        "source_partition": INT,
        "source_offset": LONG,
        "ingest_ts_ms": LONG,
        "correlation_id": TEXT,
    }
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Any event the schema can hold: the kind's own member, or any members (none, several)."""
    kind = draw(st.sampled_from(KINDS))
    own = MEMBERS[KINDS.index(kind)]
    present = {own} if draw(st.booleans()) else draw(st.sets(st.sampled_from(MEMBERS)))
    event = {"event_id": draw(TEXT), "symbol": draw(TEXT), "event_ts_ms": draw(LONG), "kind": kind}
    for member in MEMBERS:
        event[member] = draw(MEMBER[member]) if member in present else None
    return {**event, "source": draw(TEXT)}


RECORDS = st.builds(_record, st.one_of(st.sampled_from(REAL), events()), RESTS)


@st.composite
def blocks(draw: st.DrawFn, bars: int) -> Blocks:
    """The window's bars cut into blocks, each of a positive or a negative count."""
    cuts = sorted(draw(st.sets(st.integers(1, bars - 1)))) if bars > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, bars], strict=True)] if bars else []
    errors = st.sampled_from([0, 0, 1, -1, -(2**20), 2**40])
    return [(n, draw(st.booleans()), draw(errors)) for n in sizes]


# Tokens that make the decode fail, or read the same value from other bytes.
ODD = [
    _long(-1),  # a union branch or enum index fastavro would wrap around
    _long(2),
    _long(3),
    _long(4),
    _long(2**31),  # beyond an Avro int
    _long(-(2**31) - 1),
    b"\x80" * 9 + b"\x00",  # zero in ten bytes
    b"\xff" * 9 + b"\x01",  # the 64th bit set
    b"\xff" * 9 + b"\x02",  # bits beyond 64
    b"\xff" * 10 + b"\x00",  # eleven bytes
    b"\x02\xff",  # strings that are not strict UTF-8: a lone byte, a surrogate, overlong
    b"\x06\xed\xa0\x80",
    b"\x04\xc0\x80",
    b"\x04\xc3\xa9",  # "é"
    b"\x01",  # a negative length
    b"\x00",
]


def _padded(token: bytes) -> bytes:
    """A one-byte varint written in two bytes: fastavro reads the same value."""
    return bytes([token[0] | 0x80, 0]) if len(token) == 1 and token[0] < 0x80 else token


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A record's body with a token or two replaced, dropped, doubled or padded."""
    record = draw(RECORDS)
    bars = (record["event"]["snapshot_inputs"] or {}).get("window", [])
    tokens = _tokens(record, draw(blocks(len(bars))))
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(tokens) - 1))
        how = draw(st.sampled_from(["replace", "replace", "drop", "double", "pad"]))
        if how == "replace":
            tokens[at] = draw(st.one_of(st.sampled_from(ODD), st.binary(max_size=9)))
        elif how == "drop":
            tokens[at] = b""
        elif how == "double":
            tokens[at] *= 2
        else:
            tokens[at] = _padded(tokens[at])
    return PREFIX + b"".join(tokens)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    value = _encoded(draw(RECORDS))
    how = draw(st.sampled_from(["cut", "flip", "append", "random"]))
    if how == "cut":
        return value[: draw(st.integers(0, len(value) - 1))]
    if how == "flip":
        at = draw(st.integers(len(PREFIX), len(value) - 1))
        return value[:at] + bytes([draw(st.integers(0, 255))]) + value[at + 1 :]
    if how == "append":
        return value + draw(st.binary(min_size=1, max_size=4))
    return PREFIX + draw(st.binary(max_size=64))


# -- real and arbitrary records: exactly the decoded fields ------------------------------------


def test_every_real_record_projects_to_the_decoded_fields() -> None:
    assert {e["kind"] for e in REAL} == set(KINDS)
    for event in REAL:
        value = _encoded(_record(event, REST))
        assert b"".join(_tokens(_record(event, REST))) == value[len(PREFIX) :]  # the hand-written body
        _projects(value)


@FUZZ
@given(st.sampled_from(REAL), RESTS)
def test_real_records_with_any_source_fields(event: dict[str, Any], rest: dict[str, Any]) -> None:
    _projects(_encoded(_record(event, rest)))


@FUZZ
@given(events(), RESTS)
def test_arbitrary_events_project_to_the_decoded_fields(event: dict[str, Any], rest: dict[str, Any]) -> None:
    """Whatever the validator would say: members missing or several, crossed quotes, NaN."""
    _projects(_encoded(_record(event, rest)))


@FUZZ
@given(st.data())
def test_windows_in_blocks_of_negative_counts_and_any_byte_sizes(data: st.DataObject) -> None:
    event = data.draw(events().filter(lambda e: e["snapshot_inputs"] is not None))
    record = _record(event, data.draw(RESTS))
    value = PREFIX + b"".join(_tokens(record, data.draw(blocks(len(event["snapshot_inputs"]["window"])))))
    _projects(value)


def test_a_record_with_several_members_and_a_crossed_quote_projects() -> None:
    quote = {"bid_price": 2.0, "bid_size": 1.0, "ask_price": 1.0, "ask_size": 1.0}
    trade = next(e for e in REAL if e["kind"] == "TRADE")
    event = {**trade, "quote": quote, "snapshot_inputs": {"as_of_ts_ms": 5, "window": []}}
    value = _encoded(_record(event, REST))
    _projects(value)
    projected = PROJECTOR.project(value)
    assert projected is not None and projected["event"]["snapshot_inputs"] == {"as_of_ts_ms": 5}


# -- damaged bytes: the decoded fields or None --------------------------------------------------


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_fields_project_as_decoded_or_not_at_all(value: bytes) -> None:
    _agrees(value)


def test_every_token_of_every_kind_replaced_by_every_odd_one() -> None:
    """A record of each kind, and one with every member set and its window in a negative and a
    positive block: each primitive in turn replaced by each odd token, dropped, doubled, padded."""
    first = {kind: next(e for e in REAL if e["kind"] == kind) for kind in KINDS}
    members = {m: first[kind][m] for kind, m in zip(KINDS, MEMBERS, strict=True)}
    snapshot = members["snapshot_inputs"]
    every = {**first["TRADE"], **members, "snapshot_inputs": {**snapshot, "window": snapshot["window"][:2]}}
    specimens: list[tuple[dict[str, Any], Blocks | None]] = [(_record(e, REST), None) for e in first.values()]
    specimens.append((_record(every, REST), [(1, True, 0), (1, False, 0)]))
    projected = 0
    for record, layout in specimens:
        tokens = _tokens(record, layout)
        for at, token in enumerate(tokens):
            for other in [*ODD, b"", token * 2, _padded(token)]:
                projected += _agrees(PREFIX + b"".join([*tokens[:at], other, *tokens[at + 1 :]])) is not None
    assert projected > 100  # not only refusals


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_bytes_project_as_decoded_or_not_at_all(value: bytes) -> None:
    _agrees(value)


def test_every_cut_is_refused() -> None:
    for event in REAL[::7]:
        value = _encoded(_record(event, REST))
        assert all(PROJECTOR.project(value[:n]) is None for n in range(len(value)))
        assert PROJECTOR.project(value + b"\x00") is None  # a byte after the record


# -- what the projection leaves to the full decode ---------------------------------------------


def test_other_schemas_and_framings_are_left_to_the_decode() -> None:
    value = _encoded(_record(REAL[0], REST))
    body = value[len(PREFIX) :]
    raw = single_object_header("RawMarketEvent")
    older = PREFIX[:-1] + bytes([PREFIX[-1] ^ 1])  # another fingerprint (an older schema)
    for other in (raw + body, b"\x00\x00\x00\x00\x01" + body, older + body, b"\xc3\x02" + value[2:]):
        assert PROJECTOR.project(other) is None
    assert PROJECTOR.project(SERDE.encode("RawMarketEvent", REAL[0])) is None
    for short in (b"", PREFIX[:9], PREFIX):
        assert PROJECTOR.project(short) is None
    for not_bytes in (None, bytearray(value), memoryview(value), value.hex(), 7):
        assert PROJECTOR.project(not_bytes) is None
    assert PROJECTOR.project(value) is not None


@pytest.mark.parametrize("partition", [2**31, -(2**31) - 1, 2**40])
def test_a_partition_beyond_an_int_is_left_to_the_decode(partition: int) -> None:
    """Written with fastavro itself: it writes an int as a long, unchecked."""
    record = _record(REAL[0], {**REST, "source_partition": partition})
    out = io.BytesIO()
    out.write(PREFIX)
    schemaless_writer(out, contract(BUFFER).parsed, record)
    value = out.getvalue()
    with pytest.raises(DecodeError, match="beyond 32 bits"):
        SERDE.decode(BUFFER, value)
    assert PROJECTOR.project(value) is None
    _projects(_encoded({**record, "source_partition": 2**31 - 1}))
    _projects(_encoded({**record, "source_partition": -(2**31)}))


def test_the_prefix_is_a_single_object_header() -> None:
    with pytest.raises(ValueError, match="8-byte fingerprint"):
        regime_fleet_native.BufferProjector(PREFIX[:9])


# -- the v2 input hash: the compiled fold gives the Python fold's digest, or leaves it ------------

PREVIOUS = "ab" * 32  # a chain's previous digest, as the fold gets it


def _python_fold(value: bytes) -> str | None:
    """workers.contracts.input_hash's v2 fold in Python (slice or encode), None where the
    record does not decode (the scheduler never folds such a record)."""
    try:
        decoded = SERDE.decode(BUFFER, value)
    except DecodeError:
        return None
    event = input_hash.event_avro(decoded["event"], decoded, value)
    return hashlib.sha256(PREVIOUS.encode() + event).hexdigest()


def _digests_agree(value: bytes) -> str | None:
    digest = PROJECTOR.digest_v2(PREVIOUS, value)
    if digest is not None:
        assert digest == _python_fold(value)
    return digest


def test_every_real_record_digests_as_the_python_fold() -> None:
    for event in REAL:
        value = _encoded(_record(event, REST))
        assert PROJECTOR.digest_v2(PREVIOUS, value) == _python_fold(value) is not None
        assert input_hash.fold(V2, PREVIOUS, event, SERDE.decode(BUFFER, value), value) == _python_fold(value)


@FUZZ
@given(RECORDS)
def test_arbitrary_records_digest_as_the_python_fold(record: dict[str, Any]) -> None:
    assert _digests_agree(_encoded(record)) is not None


@FUZZ
@given(st.one_of(mutated(), damaged()))
def test_mutated_and_damaged_records_digest_as_the_python_fold_or_not_at_all(value: bytes) -> None:
    _digests_agree(value)


def test_a_tail_not_minimally_encoded_is_left_to_the_python_fold() -> None:
    """The Python fold then encodes the event instead of slicing it: another digest for the
    same event only if the event's own bytes were not canonical; the compiled fold stays out."""
    record = _record(REAL[0], REST)
    tokens = _tokens(record)
    tokens[-4] = _padded(tokens[-4])  # source_partition 1, in two bytes
    padded = PREFIX + b"".join(tokens)
    assert SERDE.decode(BUFFER, padded) == SERDE.decode(BUFFER, _encoded(record))
    assert PROJECTOR.digest_v2(PREVIOUS, padded) is None
    assert _python_fold(padded) == _python_fold(_encoded(record))
