"""The compiled ingest path (native/, regime_fleet_native) against the Python reference: over
arbitrary and real raw records, both give the same outputs (the same bytes to market.buffer,
the same dead letters with the same codes and messages), in the same order, through the same
dedupe window. The hook is driven the way workers/runtime/raw_batches.py drives it: runs of
records it takes, and the reference for each record it leaves.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.data import synthetic_intraday
from tests.unit.native_build import native_module
from workers import topics
from workers.contracts import DecodeError, Serde
from workers.contracts.identity import correlation_id
from workers.contracts.serde import WireFormat
from workers.ingest.processor import IngestProcessor
from workers.ingest.settings import IngestSettings
from workers.processing import Edges, Output, dead_letter
from workers.processing.raw_batch import Encoded
from workers.processing.records import ERROR_MESSAGE
from workers.runtime.checkpoint import PRODUCER_MAX_BYTES
from workers.runtime.reader import record_of

native_module()

SERDE = Serde()
NOW_MS = 1_700_000_123_456
REAL = synthetic_intraday(4, 100, snapshot_every=10, window=3)  # the bench's data, every kind


def no_stores(partition: int) -> dict[str, object]:
    raise AssertionError("ingest's batch hook reads no stores")


@dataclass(frozen=True)
class Msg:
    """A consumed record as confluent-kafka's Message shows it."""

    raw: bytes | None
    raw_key: bytes | None
    raw_headers: list[tuple[str, bytes | None]] | None = None
    part: int = 0
    off: int = 0
    stamp: int = 0
    name: str = "market.raw"

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self.name

    def partition(self) -> int:
        return self.part

    def offset(self) -> int:
        return self.off

    def timestamp(self) -> tuple[int, int]:
        return (1, self.stamp)

    def key(self) -> bytes | None:
        return self.raw_key

    def value(self) -> bytes | None:
        return self.raw

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return self.raw_headers


def _processor(compiled: bool, settings: IngestSettings | None = None) -> IngestProcessor:
    base = settings or IngestSettings()
    proc = IngestProcessor(
        base.model_copy(update={"compiled": compiled}), Edges(splice=SERDE.encode_embedding)
    )
    assert (proc.raw_batch is not None) == compiled, proc.path
    return proc


def _reference(proc: IngestProcessor, msg: Msg) -> list[Encoded]:
    """What the runtime does with one record: decode (dead letter on failure), then process;
    each output as Checkpoint.emit hands it to the producer."""
    return [_encoded_output(o) for o in _outputs(proc, msg)]


def _encoded_output(out: Output) -> Encoded:
    assert isinstance(out.value, bytes)  # spliced, or a dead letter's original bytes
    key = out.key.encode() if isinstance(out.key, str) else out.key
    return (out.topic, key, out.value, out.header_pairs(), out.partition)  # type: ignore[return-value]


def _outputs(proc: IngestProcessor, msg: Msg) -> list[Output]:
    where = {"topic": "market.raw", "partition": msg.part, "offset": msg.off}
    try:
        value = SERDE.decode("RawMarketEvent", msg.raw or b"", **where)
    except DecodeError as exc:
        return [dead_letter(record_of(msg, "market.raw"), topics.RAW_DLQ, exc.code, str(exc))]  # type: ignore[arg-type]
    return proc.process(record_of(msg, "market.raw", value), {}, NOW_MS)  # type: ignore[arg-type]


def _hooked(proc: IngestProcessor, msgs: list[Msg], max_bytes: int) -> tuple[list[Encoded], int]:
    """Outputs through the hook (and the reference for what it leaves); how many it took."""
    assert proc.raw_batch is not None
    outputs: list[Encoded] = []
    i = taken_total = 0
    while i < len(msgs):
        taken = proc.raw_batch(msgs, i, "market.raw", NOW_MS, max_bytes, no_stores)
        outputs += [o for outs in taken for o in outs]
        i += len(taken)
        taken_total += len(taken)
        if i < len(msgs):
            outputs += _reference(proc, msgs[i])
            i += 1
    return outputs, taken_total


def _both(msgs: list[Msg], max_bytes: int = PRODUCER_MAX_BYTES, **kw: Any) -> int:
    settings = IngestSettings(**kw)
    reference = _processor(False, settings)
    expected = [o for m in msgs for o in _reference(reference, m)]
    got, taken = _hooked(_processor(True, settings), msgs, max_bytes)
    assert [_stable(o) for o in got] == [_stable(o) for o in expected]
    return taken


def _stable(out: Encoded) -> Encoded:
    """The output without the object addresses some of fastavro's messages name (a dead
    letter's error_message for a cut-short double names its BytesIO)."""
    topic, key, value, headers, partition = out
    headers = [
        (k, re.sub(rb" at 0x[0-9a-f]+", b" at 0x", v) if k == ERROR_MESSAGE else v) for k, v in headers
    ]
    return (topic, key, value, headers, partition)


def _encoded(event: dict[str, Any]) -> bytes:
    return SERDE.encode("RawMarketEvent", event)


def _msgs(events: list[dict[str, Any]], **kw: Any) -> list[Msg]:
    return [
        Msg(_encoded(e), e["symbol"].encode(), part=i % 2, off=i, stamp=e["event_ts_ms"], **kw)
        for i, e in enumerate(events)
    ]


# -- real records ---------------------------------------------------------------------


def test_real_records_are_all_taken_by_the_compiled_path_with_the_reference_bytes():
    msgs = _msgs(REAL)
    assert _both(msgs) == len(msgs)  # every record compiled, none left to the reference


def test_correlation_headers_duplicates_and_small_limits_match():
    msgs = _msgs(REAL[:40])
    headed = [
        Msg(m.raw, m.raw_key, [("correlation_id", b"abc-%d" % i), ("x", None)], m.part, m.off, m.stamp)
        for i, m in enumerate(msgs[:10])
    ]
    empty = [Msg(m.raw, m.raw_key, [("correlation_id", b"")], m.part, m.off) for m in msgs[10:15]]
    assert _both(headed + empty + msgs[:20] + msgs) == len(headed + empty + msgs[:20] + msgs)
    every = _msgs(REAL)
    assert 0 < _both(every, max_bytes=300) < len(every)  # snapshots do not fit: left to the reference


def test_the_derived_correlation_id_is_the_references():
    proc = _processor(True)
    assert proc.raw_batch is not None
    [[out]] = proc.raw_batch(_msgs(REAL[:1]), 0, "market.raw", NOW_MS, PRODUCER_MAX_BYTES, no_stores)
    topic, key, _, headers, _ = out
    assert dict(headers)["correlation_id"] == correlation_id(REAL[0]["event_id"]).encode()
    assert dict(headers)["event_type"] == REAL[0]["kind"].encode() and key == REAL[0]["symbol"].encode()
    assert topic == topics.BUFFER


# -- arbitrary records ----------------------------------------------------------------

TEXT = st.one_of(
    st.sampled_from(["", " ", "\t\n", "\x1c", "\u3000", "\u00a0", "S", "e1", " x "]), st.text(max_size=6)
)
NUMBER = st.one_of(
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1.0, 2.0, 1e308, float("inf"), float("-inf"), float("nan")]),
    st.floats(allow_nan=True, allow_infinity=True),
)
LONG = st.one_of(st.sampled_from([0, -1, 1, 60_000]), st.integers(-(2**63), 2**63 - 1))
TS = st.one_of(
    st.sampled_from([315_532_800_000, 1_700_000_000_000, 4_102_444_800_000, 4_102_444_800_001]), LONG
)


def _bar() -> st.SearchStrategy[dict[str, Any]]:
    price = st.one_of(st.sampled_from([1.0, 2.0, 3.0]), NUMBER)
    return st.fixed_dictionaries(
        {"open": price, "high": price, "low": price, "close": price, "volume": NUMBER, "interval_ms": LONG}
    )


MEMBERS = {
    "trade": st.fixed_dictionaries(
        {"price": NUMBER, "size": NUMBER, "side": st.sampled_from(["BUY", "SELL", "UNKNOWN"])}
    ),
    "quote": st.fixed_dictionaries(
        {"bid_price": NUMBER, "bid_size": NUMBER, "ask_price": NUMBER, "ask_size": NUMBER}
    ),
    "bar": _bar(),
    "snapshot_inputs": st.fixed_dictionaries({"as_of_ts_ms": TS, "window": st.lists(_bar(), max_size=3)}),
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["TRADE", "QUOTE", "BAR", "SNAPSHOT_INPUTS"]))
    own = {"TRADE": "trade", "QUOTE": "quote", "BAR": "bar", "SNAPSHOT_INPUTS": "snapshot_inputs"}[kind]
    present = {own} if draw(st.booleans()) else draw(st.sets(st.sampled_from(sorted(MEMBERS))))
    event = {
        "event_id": draw(TEXT),
        "symbol": draw(TEXT),
        "event_ts_ms": draw(TS),
        "kind": kind,
        "source": draw(TEXT),
    }
    for member, strategy in MEMBERS.items():
        event[member] = draw(strategy) if member in present else None
    return event


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A real event with one change: one rule broken alone, or kept."""
    event = copy.deepcopy(draw(st.sampled_from(REAL)))
    member = event[{"TRADE": "trade", "QUOTE": "quote", "BAR": "bar"}.get(event["kind"], "snapshot_inputs")]
    target = draw(st.sampled_from([member, *member.get("window", [])]))
    change = draw(st.sampled_from(["field", "field", "cross", "window", "as_of", "top"]))
    if change == "cross" and "bid_price" in target:
        target["bid_price"] = target["ask_price"] * draw(st.sampled_from([1.0, 1.0000001, 1.5, 0.99]))
    elif change == "window" and "window" in member:
        member["window"] = draw(st.sampled_from([[], member["window"][:1], member["window"] * 2]))
    elif change == "as_of" and "as_of_ts_ms" in member:
        member["as_of_ts_ms"] = event["event_ts_ms"] + draw(st.sampled_from([0, 1, -1]))
    elif change == "top":
        field = draw(st.sampled_from(["event_id", "symbol", "event_ts_ms"]))
        event[field] = draw(TS if field == "event_ts_ms" else TEXT)
    else:
        field = draw(st.sampled_from(sorted(k for k in target if k not in ("side", "window"))))
        if isinstance(target[field], float):
            near = st.sampled_from([target[field] * 0.999, target[field] * 1.001])
            target[field] = draw(st.one_of(NUMBER, near))
        else:
            target[field] = draw(LONG)
    return event


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(near_valid(), min_size=1, max_size=6))
def test_each_rule_broken_alone_gives_the_same_bytes_and_dead_letters(events: list[dict[str, Any]]):
    _both(_msgs(events))


@st.composite
def messages(draw: st.DrawFn) -> Msg:
    event = draw(st.one_of(events(), st.sampled_from(REAL), near_valid()))
    raw = _encoded(event)
    damage = draw(
        st.sampled_from(["none", "none", "none", "none", "flip", "cut", "append", "prefix", "empty"])
    )
    if damage == "flip" and len(raw) > 10:
        at = draw(st.integers(10, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    elif damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif damage == "append":
        raw += draw(st.binary(min_size=1, max_size=4))
    elif damage == "prefix":
        raw = draw(st.sampled_from([b"\x00\x00\x00\x00\x01", b"\xc3\x01" + bytes(8)])) + raw[10:]
    elif damage == "empty":
        raw = b""
    keyed = event["symbol"].encode("utf-8", "surrogatepass")
    key = (
        keyed
        if draw(st.integers(0, 3))
        else draw(
            st.one_of(
                st.just(event["symbol"].encode("utf-8", "surrogatepass")), st.none(), st.binary(max_size=3)
            )
        )
    )
    corr = st.one_of(st.none(), st.binary(max_size=4), st.sampled_from([b"\xff", b"c\xc3"]))
    headers = draw(
        st.one_of(st.none(), st.lists(st.tuples(st.sampled_from(["correlation_id", "h"]), corr), max_size=3))
    )
    stamp = draw(st.one_of(st.just(event["event_ts_ms"]), st.sampled_from([0, -1, 1_700_000_000_000]), LONG))
    return Msg(raw, key, headers, draw(st.integers(0, 2)), draw(st.integers(0, 2**40)), stamp)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), max_size=8), st.sampled_from([PRODUCER_MAX_BYTES, 400]))
def test_arbitrary_records_give_the_same_bytes_and_dead_letters(msgs: list[Msg], max_bytes: int):
    _both(msgs, max_bytes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), max_size=6), st.integers(0, 2**40), st.sampled_from([0, 1, 3_600_000]))
def test_settings_are_honoured_alike(msgs: list[Msg], min_ts: int, max_future_ms: int):
    _both(msgs, min_event_ts_ms=min_ts, max_future_ms=max_future_ms, dedupe_window=2)


def test_the_python_path_runs_where_records_are_not_spliced_as_single_objects():
    confluent = Serde()
    confluent.wire = WireFormat.CONFLUENT  # as with a registry URL: the buffer is re-encoded
    for edges in (Edges(splice=confluent.encode_embedding), Edges()):
        proc = IngestProcessor(IngestSettings(), edges)
        assert proc.raw_batch is None and proc.path.startswith("the Python path")
