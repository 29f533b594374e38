"""The noisy-neighbour bench's report: 429s read back, shares against the weights of the active
clients over the contended span, A/B ratios, the table's verdicts."""

from __future__ import annotations

import json

import pytest

from harness.bench.neighbours_report import (
    Answer,
    Neighbour,
    Phase,
    Sample,
    admitted_shares,
    refusal,
    shares_under_contention,
    summarise,
    table,
    weight_shares,
)
from workers.api.client import SseEvent, SseStream


def test_a_429_gives_its_reason_and_retry_after() -> None:
    def body(error: str, message: str, retry: int) -> bytes:
        return json.dumps({"error": error, "message": message, "retry_after_s": retry}).encode()

    quota = body("THROTTLED", "client 'noisy' is over its quota of 40.0 events/s; retry after 1 s", 1)
    share = body("THROTTLED", "client 'noisy' is over its weighted share (33 events/s) while ingest lags", 3)
    assert refusal(429, quota) == ("quota", 1)
    assert refusal(429, share) == ("share", 3)
    assert refusal(429, body("BACKPRESSURE", "ingest lags 2000 records", 7)) == ("backpressure", 7)
    assert refusal(202, b'{"offset": 1}') == ("", 0)


def test_shares_are_of_what_was_admitted_between_two_samples_against_active_weights() -> None:
    first = Sample(0.0, 0, 1000, 100.0, {"a": 100, "b": 50, "idle": 7})
    last = Sample(10.0, 0, 1000, 100.0, {"a": 400, "b": 150, "idle": 7, "new": 100})
    shares = admitted_shares(first, last)
    assert shares == pytest.approx({"a": 0.6, "b": 0.2, "new": 0.2})  # idle admitted nothing
    assert weight_shares({"a": 3, "b": 1, "idle": 4, "new": 1}, shares) == pytest.approx(
        {"a": 0.6, "b": 0.2, "new": 0.2}
    )


def test_shares_start_one_window_after_contention_and_say_how_long_it_held() -> None:
    def at(t: float, lag: int, a: int, b: int) -> Sample:
        return Sample(t, lag, 1000, 100.0, {"a": a, "b": b})

    samples = [
        at(0, 500, 0, 0),  # before the phase: not counted
        at(10, 20, 10, 10),
        at(11, 150, 30, 20),  # contention from here (100 = 0.1 x 1000)
        at(13, 120, 60, 60),  # the window (2 s) still holds uncontended admissions
        at(14, 90, 100, 80),  # a dip below the threshold
        at(16, 130, 160, 100),
        at(18, 140, 220, 120),
    ]
    shares, onset, held = shares_under_contention(samples, 10.0, 18.0, 2.0, 0.1)
    assert onset == 11
    assert shares == pytest.approx({"a": 160 / 220, "b": 60 / 220})  # from t=13 to t=18
    assert held == pytest.approx(3 / 4)
    assert shares_under_contention(samples[1:2], 10.0, 18.0, 2.0, 0.1) == ({}, None, 0.0)


def _phase(name: str, started: float, answers: dict[str, list[Answer]]) -> Phase:
    return Phase(name, started, 1_000.0 + started, 10.0, answers, elapsed=10.0)


def _stream(wall_ms: float, delays_ms: list[float]) -> SseStream:
    events = [
        SseEvent(
            "",
            "EngineRunStarted",
            json.dumps({"published_at_ms": wall_ms + 10 * i}),
            (wall_ms + 10 * i + d) / 1000,
        )
        for i, d in enumerate(delays_ms)
    ]
    return SseStream(events=events)


def test_summarise_compares_b_with_a_per_client_and_counts_the_noisy_429s() -> None:
    calm = Neighbour("calm", 3, 100, 50, 1, 1)
    noisy = Neighbour("loud", 1, 10, 100, 0, 1)
    a_answers = [Answer(100 + 0.1 * i, 0.010, 202) for i in range(100)]  # 10 ms each
    b_answers = [Answer(200 + 0.1 * i, 0.010 if i % 10 else 0.030, 202) for i in range(100)]
    b_answers.append(Answer(205.0, 0.001, 429, "share", 2))
    loud = [Answer(200 + 0.01 * i, 0.002, 202 if i % 10 == 0 else 429, "quota", 1) for i in range(1000)]
    a = _phase("a", 100.0, {"calm": a_answers})
    b = _phase("b", 200.0, {"calm": b_answers, "loud": loud})
    # SSE, an event every 10 ms: A's 5 ms late, B's 6 ms; the first second's (warm-up) 500 ms,
    # left out.
    streams = {
        "calm": [_stream(1_100_000.0, [500] * 100 + [5] * 900), _stream(1_200_000.0, [500] * 100 + [6] * 900)]
    }
    samples = [
        Sample(200.0, 0, 1000, 100.0, {"calm": 0, "loud": 0}),
        Sample(203.0, 200, 1000, 100.0, {"calm": 100, "loud": 30}),
        Sample(206.0, 200, 1000, 100.0, {"calm": 400, "loud": 130}),
        Sample(210.0, 200, 1000, 100.0, {"calm": 700, "loud": 230}),
    ]
    found = summarise(
        a, b, streams, samples, well_behaved=(calm,), noisy=noisy, window_s=2.0, share_from=0.1, skip_s=1.0
    )
    assert found["neighbours.calm.admit_p99_a_ms"] == pytest.approx(10.0)
    assert found["neighbours.calm.admit_p99_b_ms"] == pytest.approx(30.0)  # every tenth at 30 ms
    assert found["neighbours.calm.admit_p99_ratio"] == pytest.approx(3.0)
    assert found["neighbours.calm.sse_p99_ratio"] == pytest.approx(1.2)  # 6 / 5 ms
    assert found["neighbours.calm.throttled_b"] == 1
    # From t=206 (contention at 203 plus the 2 s window) to the end: 300 and 100.
    assert found["neighbours.calm.share_b"] == pytest.approx(0.75)
    assert found["neighbours.calm.weight_share"] == pytest.approx(0.75)
    assert found["neighbours.calm.share_dev_pct"] == pytest.approx(0.0)
    assert found["neighbours.loud.throttled"] == 900
    assert found["neighbours.loud.throttled_quota"] == 900
    assert found["neighbours.loud.retry_after_s"] == "1 s x900"
    assert found["neighbours.loud.achieved_per_s"] == pytest.approx(100.0)
    assert found["neighbours.contended_after_s"] == pytest.approx(3.0)
    text = table(found, (calm,), noisy)
    assert "3.00 MISSED" in text and "+0.0 % ok" in text
