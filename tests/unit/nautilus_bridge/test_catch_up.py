"""The FleetActor's cursor across node restarts (workers/nautilus_bridge/catch_up.py): what it
counts as handed on before, and how it moves."""

from __future__ import annotations

from workers.nautilus_bridge.catch_up import ReaderCursor, cursor_key


def test_a_record_at_or_below_the_offset_handed_on_is_covered_per_type_and_partition() -> None:
    cursor = ReaderCursor("0-0", {"RegimeDecision:0": 7})
    assert cursor.covers("RegimeDecision", 0, 7) and cursor.covers("RegimeDecision", 0, 3)
    assert not cursor.covers("RegimeDecision", 0, 8)
    assert not cursor.covers("RegimeDecision", 1, 0), "another partition has its own offsets"
    assert not cursor.covers("EnrichedSignal", 0, 0), "another type (topic) has its own offsets"


def test_the_cursor_only_moves_forward() -> None:
    cursor = ReaderCursor("0-0")
    cursor.advance("EnrichedSignal", 2, 5)
    cursor.advance("EnrichedSignal", 2, 3)  # a snapshot's older decision, say
    assert cursor.high == {"EnrichedSignal:2": 5}


def test_each_requester_has_its_own_cursor_beside_the_stream() -> None:
    assert cursor_key("regime-fleet:stream", "TRADER-001") == "regime-fleet:stream:reader:TRADER-001"
    assert cursor_key("s", "a") != cursor_key("s", "b")
