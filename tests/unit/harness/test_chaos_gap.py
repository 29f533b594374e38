"""The chaos suite's rollout measure: the longest stretch without a publication on
regime.events from the first fault to the last event. No broker."""

from __future__ import annotations

from harness.chaos.observe import Fault, Published, longest_gap, recovery_of


def _at(*arrivals: float) -> list[Published]:
    return [Published(a, 0, i, {}) for i, a in enumerate(arrivals)]


def test_the_longest_gap_counts_from_the_first_fault_and_between_publications():
    assert longest_gap(_at(1.0, 2.0, 9.0, 10.0), since=1.5, until=10.0) == 7.0
    assert longest_gap(_at(1.0, 2.0, 3.0), since=0.0, until=3.0) == 1.0


def test_a_silence_right_after_the_fault_is_a_gap_too():
    assert longest_gap(_at(0.5, 6.0, 6.5), since=1.0, until=6.5) == 5.0


def test_publications_outside_the_window_do_not_shorten_it():
    assert longest_gap(_at(0.1, 0.2, 20.0), since=1.0, until=12.0) == 11.0


def _event(arrival: float, symbol: str, ts: int) -> Published:
    return Published(arrival, 0, ts, {"symbol": symbol, "engine_timestamp_ms": ts})


def test_a_symbol_whose_output_was_complete_before_the_fault_ended_has_recovered():
    fault = Fault("scale", "publisher", started=1.0, ended=5.0, watermark={"A": 10}, pending={"A"})
    done_during_fault = [_event(2.0, "A", 10), _event(4.0, "A", 20)]
    assert recovery_of(fault, done_during_fault, {"A": 20}) == 0.0
    # Output still due after the fault ended: recovered when it arrives, never when it does not.
    assert recovery_of(fault, [_event(4.0, "A", 10), _event(7.5, "A", 20)], {"A": 20}) == 2.5
    assert recovery_of(fault, [_event(4.0, "A", 10)], {"A": 20}) is None
