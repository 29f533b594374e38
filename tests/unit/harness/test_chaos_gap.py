"""The chaos suite's rollout measure: the longest stretch without a publication on
regime.events from the first fault to the last event. No broker."""

from __future__ import annotations

from harness.chaos.observe import Published, longest_gap


def _at(*arrivals: float) -> list[Published]:
    return [Published(a, 0, i, {}) for i, a in enumerate(arrivals)]


def test_the_longest_gap_counts_from_the_first_fault_and_between_publications():
    assert longest_gap(_at(1.0, 2.0, 9.0, 10.0), since=1.5, until=10.0) == 7.0
    assert longest_gap(_at(1.0, 2.0, 3.0), since=0.0, until=3.0) == 1.0


def test_a_silence_right_after_the_fault_is_a_gap_too():
    assert longest_gap(_at(0.5, 6.0, 6.5), since=1.0, until=6.5) == 5.0


def test_publications_outside_the_window_do_not_shorten_it():
    assert longest_gap(_at(0.1, 0.2, 20.0), since=1.0, until=12.0) == 11.0
