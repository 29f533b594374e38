from __future__ import annotations

import copy

import pytest

from tests.samples import trade_event
from workers.contracts import InvalidEvent
from workers.contracts.identity import run_id
from workers.contracts.validation import check_raw_event

TRADE = trade_event(event_id="e")
BAR = {
    **TRADE,
    "kind": "BAR",
    "trade": None,
    "bar": {
        "open": 2.0,
        "high": 3.0,
        "low": 1.0,
        "close": 2.5,
        "volume": 5.0,
        "interval_ms": 60000,
    },
}
LIMITS = {"min_ts_ms": 0, "max_ts_ms": 4_102_444_800_000}


def _with(base, path, value):
    e = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    target = e
    for p in parents:
        target = target[p]
    target[leaf] = value
    return e


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (_with(TRADE, "trade.price", 0.0), "NON_POSITIVE_PRICE"),
        (_with(TRADE, "trade.price", float("nan")), "NON_FINITE"),
        (_with(TRADE, "trade.size", -1.0), "NEGATIVE_SIZE"),
        (_with(TRADE, "symbol", " "), "EMPTY_SYMBOL"),
        (_with(TRADE, "kind", "BAR"), "KIND_MISMATCH"),
        (_with(TRADE, "event_ts_ms", 5_000_000_000_000), "TIMESTAMP_OUT_OF_RANGE"),
        (_with(BAR, "bar.high", 0.5), "HIGH_BELOW_LOW"),
        (_with(BAR, "bar.interval_ms", 0), "BAD_INTERVAL"),
    ],
)
def test_each_rule_rejects_with_its_code(event, code):
    with pytest.raises(InvalidEvent) as exc:
        check_raw_event(event, **LIMITS)
    assert exc.value.code == code


def test_valid_events_pass():
    check_raw_event(TRADE, **LIMITS)
    check_raw_event(BAR, **LIMITS)


def test_run_id_is_stable_and_sensitive_to_every_field():
    fields = dict(
        symbol="S",
        engine_timestamp_ms=1,
        cut_start_ingest_seq=2,
        cut_end_ingest_seq=3,
        cut_kind="BOUNDARY",
        engine_mode="TRUTH",
        engine_version="v",
        config_fingerprint="c",
    )
    base = run_id(**fields)
    assert base == run_id(**fields) and len(base) == 32
    changed = {
        "symbol": "T",
        "engine_timestamp_ms": 9,
        "cut_start_ingest_seq": 9,
        "cut_end_ingest_seq": 9,
        "cut_kind": "TIMER",
        "engine_mode": "HYSTERESIS",
        "engine_version": "w",
        "config_fingerprint": "d",
    }
    for key, value in changed.items():
        assert run_id(**{**fields, key: value}) != base, key
