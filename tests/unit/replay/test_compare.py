"""The replay's field comparison: equal events compare equal without flattening, and a
difference is still named by its path, ignored paths included."""

from __future__ import annotations

from workers.replay.compare import diff

EVENT = {
    "run_id": "r",
    "published_at_ms": 1,
    "regime_output": {"regime": "RANGE", "features": {"a": 1.0}},
    "provenance": {"input_hash": "i", "prev_event_hash": "p", "event_hash": "e"},
}


def test_equal_but_for_non_authoritative_and_ignored_paths() -> None:
    other = {**EVENT, "published_at_ms": 9, "provenance": {**EVENT["provenance"], "event_hash": "x"}}
    assert diff(EVENT, other, frozenset({"provenance.event_hash"})) == {}
    assert diff(EVENT, other) == {"provenance.event_hash": ["e", "x"]}


def test_a_nested_difference_is_named_by_its_path() -> None:
    other = {**EVENT, "regime_output": {"regime": "RANGE", "features": {"a": 2.0}}}
    assert diff(EVENT, other, frozenset({"provenance.event_hash"})) == {
        "regime_output.features.a": [1.0, 2.0]
    }
