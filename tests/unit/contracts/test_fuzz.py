"""Property-based fuzzing of every decoder and validator: arbitrary bytes, JSON and text lines
either decode or come back as a typed contract error with a code, never another exception."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hypothesis
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.samples import trade_event
from tests.unit.contracts.avro_values import schema_values
from workers.contracts import SCHEMA_NAMES, ContractError, DecodeError, InvalidEvent, Serde, contract
from workers.contracts.lines import encode_line
from workers.contracts.serde import SINGLE_OBJECT_MAGIC
from workers.contracts.validation import MEMBER_OF_KIND, check_raw_event

MIN_TS, MAX_TS = 315_532_800_000, 4_102_444_800_000
LIMITS = {"min_ts_ms": MIN_TS, "max_ts_ms": MAX_TS}
DECODE_CODES = {"UNDECODABLE", "UNKNOWN_SCHEMA"}
EVENT_CODES = {
    "MALFORMED",
    "UNKNOWN_KIND",
    "EMPTY_SYMBOL",
    "EMPTY_EVENT_ID",
    "TIMESTAMP_OUT_OF_RANGE",
    "KIND_MISMATCH",
    "NON_FINITE",
    "NON_POSITIVE_PRICE",
    "NEGATIVE_SIZE",
    "CROSSED_QUOTE",
    "EMPTY_WINDOW",
    "AS_OF_AFTER_EVENT",
    "HIGH_BELOW_LOW",
    "OUTSIDE_RANGE",
    "BAD_INTERVAL",
}
SERDE = Serde()
SIGNAL = {
    "signal_id": "s",
    "strategy_id": "st",
    "symbol": "S",
    "signal_ts_ms": 1,
    "direction": 1,
    "strength": 1.0,
    "price": 10.0,
    "features": {},
}
TRIGGER = {
    "trigger_id": "t",
    "reason": "r",
    "rolling_accuracy": 0.4,
    "threshold": 0.5,
    "samples": 100,
    "model_version": "m",
    "triggered_ts_ms": 3,
}
schemas = st.sampled_from(SCHEMA_NAMES)


# --- strategies -------------------------------------------------------------------------------

RECORDS = {name: schema_values(name) for name in SCHEMA_NAMES}
records = schemas.flatmap(lambda name: st.tuples(st.just(name), RECORDS[name]))

# Lone surrogates: JSON may escape them, UTF-8 cannot encode them.
json_strings = st.text(max_size=8) | st.sampled_from(["\ud800", "a\udfff"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

prices = st.floats(min_value=1e-6, max_value=1e9)
sizes = st.floats(min_value=0, max_value=1e9)
timestamps = st.integers(MIN_TS, MAX_TS)


@st.composite
def bars(draw: st.DrawFn) -> dict[str, Any]:
    low, high = sorted(draw(st.tuples(prices, prices)))
    inside = st.floats(min_value=low, max_value=high)
    return {
        "open": draw(inside),
        "high": high,
        "low": low,
        "close": draw(inside),
        "volume": draw(sizes),
        "interval_ms": draw(st.integers(1, 2**40)),
    }


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """RawMarketEvents that keep every semantic rule of check_raw_event."""
    ts = draw(timestamps)
    kind = draw(st.sampled_from(sorted(MEMBER_OF_KIND)))
    if kind == "TRADE":
        member: Any = {
            "price": draw(prices),
            "size": draw(sizes),
            "side": draw(st.sampled_from(["BUY", "SELL", "UNKNOWN"])),
        }
    elif kind == "QUOTE":
        bid, ask = sorted(draw(st.tuples(prices, prices)))
        member = {"bid_price": bid, "bid_size": draw(sizes), "ask_price": ask, "ask_size": draw(sizes)}
    elif kind == "BAR":
        member = draw(bars())
    else:
        member = {
            "as_of_ts_ms": draw(st.integers(MIN_TS, ts)),
            "window": draw(st.lists(bars(), min_size=1, max_size=3)),
        }
    event = {m: None for m in MEMBER_OF_KIND.values()}
    event[MEMBER_OF_KIND[kind]] = member
    text = st.text(min_size=1, max_size=8).filter(str.strip)
    return {
        "event_id": draw(text),
        "symbol": draw(text),
        "event_ts_ms": ts,
        "kind": kind,
        **event,
        "source": draw(st.text(max_size=8)),
    }


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one field, at any depth, removed or replaced by arbitrary JSON."""
    event = draw(valid_events())
    target: Any = event
    while True:
        key = draw(st.sampled_from(sorted(target)))
        nested = target[key]
        if isinstance(nested, list) and nested:
            nested = nested[draw(st.integers(0, len(nested) - 1))]
        if not isinstance(nested, dict) or draw(st.booleans()):
            break
        target = nested
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(
            json_values | st.integers() | st.floats() | st.sampled_from(["", " ", "FOO", *MEMBER_OF_KIND])
        )
    return event


# --- helpers ----------------------------------------------------------------------------------


def _header(name: str) -> bytes:
    return SINGLE_OBJECT_MAGIC + contract(name).fingerprint


def _long(n: int) -> bytes:
    """The Avro zig-zag varint of n."""
    z, out = (n << 1) ^ (n >> 63), bytearray()
    while z > 0x7F:
        out.append(z & 0x7F | 0x80)
        z >>= 7
    return bytes([*out, z])


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _checked(event: Any) -> str | None:
    """None when check_raw_event passes, else the code of the InvalidEvent it raised."""
    try:
        check_raw_event(event, **LIMITS)
    except InvalidEvent as exc:
        assert exc.code in EVENT_CODES and exc.message, exc
        hypothesis.event(f"check_raw_event: {exc.code}")
        return exc.code
    hypothesis.event("check_raw_event: passed")
    return None


def _decoded(name: str, data: bytes, serde: Serde = SERDE) -> dict[str, Any] | None:
    """Decode, or None when a DecodeError says why; a decoded value must encode back to a
    record that decodes to the same bytes, and a decoded raw event must pass or be rejected."""
    try:
        value = serde.decode(name, data, topic="t", partition=2, offset=7)
    except DecodeError as exc:
        assert exc.code in DECODE_CODES and exc.schema == name and "t[2]@7" in str(exc), exc
        return None
    hypothesis.event("decoded")
    again = SERDE.encode(name, value, check=True)
    assert SERDE.encode(name, SERDE.decode(name, again)) == again
    if name == "RawMarketEvent":
        _checked(value)
    if name == "RawInputBufferRecord":
        _checked(value["event"])
    return value


# --- 1. Serde.decode --------------------------------------------------------------------------


@settings(max_examples=300)
@given(name=schemas, data=st.binary(max_size=64))
@example(name="RawMarketEvent", data=b"\x00")
@example(name="RawMarketEvent", data=SINGLE_OBJECT_MAGIC)
def test_arbitrary_bytes_decode_or_raise_decode_error(name: str, data: bytes) -> None:
    if _decoded(name, data) is not None:
        assert data.startswith(SINGLE_OBJECT_MAGIC)


@settings(max_examples=600)
@given(
    name=schemas, writer=schemas, body=st.binary(max_size=80) | records.map(lambda r: SERDE.encode(*r)[10:])
)
@example(
    name="RetrainTrigger",
    writer="RetrainTrigger",
    body=b"\x02t\x02r" + bytes(16) + _long(2**40) + b"\x02m\x00",  # samples: an int beyond 32 bits
)
def test_bodies_after_a_known_fingerprint_decode_or_raise_decode_error(
    name: str, writer: str, body: bytes
) -> None:
    if _decoded(name, _header(writer) + body) is not None:
        assert writer == name


@settings(max_examples=300)
@given(record=records)
def test_valid_records_round_trip_and_no_truncation_or_extension_decodes(record: tuple[str, Any]) -> None:
    name, value = record
    data = SERDE.encode(name, value, check=True)
    assert data.startswith(_header(name))
    assert SERDE.encode(name, SERDE.decode(name, data)) == data
    for end in range(len(data)):
        assert _decoded(name, data[:end]) is None, end
    assert _decoded(name, data + b"\x00") is None


@settings(max_examples=400)
@given(
    record=records,
    edits=st.lists(
        st.tuples(st.integers(0), st.integers(0, 255), st.sampled_from("set insert delete")),
        min_size=1,
        max_size=3,
    ),
)
def test_corrupted_encodings_decode_or_raise_decode_error(
    record: tuple[str, Any], edits: list[tuple[int, int, str]]
) -> None:
    name, value = record
    data = bytearray(SERDE.encode(name, value))
    for position, byte, edit in edits:
        at = 10 + position % max(1, len(data) - 10)
        if edit == "set" and at < len(data):
            data[at] = byte
        elif edit == "insert":
            data.insert(at, byte)
        elif at < len(data):
            del data[at]
    _decoded(name, bytes(data))


class _Registry(BaseHTTPRequestHandler):
    """Schema Registry's register and fetch-by-id; unknown ids answer 404 / 40403 as it does."""

    schemas: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._json(200, {"id": self.schemas.index(body["schema"]) + 1})

    def do_GET(self) -> None:
        schema_id = int(self.path.split("/")[3].split("?")[0])
        if 1 <= schema_id <= len(self.schemas):
            self._json(200, {"schema": self.schemas[schema_id - 1], "schemaType": "AVRO"})
        else:
            self._json(404, {"error_code": 40403, "message": f"Schema {schema_id} not found"})

    def _json(self, status: int, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def registry_serde() -> Iterator[Serde]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Serde(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()


@settings(max_examples=150)
@given(
    record=records, schema_id=st.integers(0, 2**32 - 1), body=st.binary(max_size=40), cut=st.integers(0, 80)
)
def test_confluent_framed_bytes_decode_or_raise_decode_error(
    registry_serde: Serde, record: tuple[str, Any], schema_id: int, body: bytes, cut: int
) -> None:
    name, value = record
    data = registry_serde.encode(name, value, topic="t")
    assert registry_serde.decode(name, data) is not None
    assert _decoded(name, data[:cut], registry_serde) is None or cut >= len(data)
    # Ids 1-10 are registered as the test goes, 0 and 11 never are.
    _decoded(name, b"\x00" + (schema_id % 12).to_bytes(4, "big") + body, registry_serde)
    _decoded(name, b"\x00" + schema_id.to_bytes(4, "big") + body, registry_serde)


# --- 2. check_raw_event -----------------------------------------------------------------------


@settings(max_examples=300)
@given(event=valid_events())
def test_valid_events_pass_the_checks_and_the_produce_path(event: dict[str, Any]) -> None:
    assert _checked(event) is None
    line = encode_line(json.dumps(event), "RawMarketEvent", SERDE, **LIMITS)
    assert SERDE.decode("RawMarketEvent", line.data) == event
    assert line.key == event["symbol"].encode()


@settings(max_examples=300)
@given(
    event=st.dictionaries(st.text(max_size=8), json_values, max_size=6)
    | st.fixed_dictionaries(
        {},
        optional={
            k: json_values for k in ("event_id", "symbol", "event_ts_ms", "kind", *MEMBER_OF_KIND.values())
        },
    )
    | json_values
)
def test_arbitrary_json_passes_or_raises_invalid_event(event: Any) -> None:
    _checked(event)


@settings(max_examples=500)
@given(event=mutated_events())
def test_mutated_events_pass_or_raise_invalid_event(event: dict[str, Any]) -> None:
    _checked(event)


# --- 3. the produce path's JSON lines -----------------------------------------------------------


def _encoded_or_reason(schema: str, line: str) -> str:
    try:
        encoded = encode_line(line, schema, SERDE, **LIMITS)
    except ContractError as exc:
        assert str(exc)
        return str(exc)
    assert SERDE.decode(schema, encoded.data) is not None
    return ""


@settings(max_examples=300)
@given(name=schemas, line=st.text(max_size=40) | json_values.map(json.dumps))
@example(name="RawMarketEvent", line="[" * 100_000)
@example(name="RawMarketEvent", line='{"a": ' * 100_000)
@example(name="RawMarketEvent", line="1" * 5000)
@example(
    name="RawMarketEvent",
    line=json.dumps({**trade_event(), "trade": {"price": 10**400, "size": 1.0, "side": "BUY"}}),
)
def test_arbitrary_lines_are_encoded_or_rejected_with_a_reason(name: str, line: str) -> None:
    reason = _encoded_or_reason(name, line)
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError):
        assert reason
        return
    if not isinstance(parsed, dict):
        assert reason


@settings(max_examples=300)
@given(
    record=records,
    extra=st.dictionaries(st.sampled_from(["kind", "symbol", "signal", "x"]), json_values, max_size=2),
)
@example(record=("SignalEvent", SIGNAL), extra={"kind": "\ud800"})  # header not UTF-8
@example(record=("SignalEvent", SIGNAL), extra={"symbol": "\ud800"})  # field not UTF-8
@example(record=("SignalEvent", SIGNAL), extra={"price": 10**400})  # beyond a double
@example(record=("RetrainTrigger", TRIGGER), extra={"signal": 1})  # no symbol, a signal that is no record
def test_lines_of_schema_records_are_encoded_or_rejected_with_a_reason(
    record: tuple[str, Any], extra: dict[str, Any]
) -> None:
    name, value = record
    reason = _encoded_or_reason(name, json.dumps({**value, **extra}, default=bytes.hex))
    if not extra and name not in ("RawMarketEvent", "ModelRecord"):  # semantic rules; bytes as hex
        assert not reason
    unsendable = [
        v for k, v in extra.items() if k in ("kind", "symbol") and isinstance(v, str) and not _utf8(v)
    ]
    if unsendable or extra.get("price") == 10**400:
        assert reason


@settings(max_examples=300)
@given(event=mutated_events())
def test_mutated_event_lines_that_fail_a_check_are_rejected_with_a_reason(event: dict[str, Any]) -> None:
    reason = _encoded_or_reason("RawMarketEvent", json.dumps(event))
    if _checked(event) is not None:
        assert reason
