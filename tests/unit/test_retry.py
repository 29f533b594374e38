from __future__ import annotations

import pytest

from workers.retry import RetriesExhausted, RetryPolicy, retry


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        ("constant", [0.5, 0.5, 0.5, 0.5, 0.5]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5]),
        ("exponential", [0.5, 1.0, 2.0, 3.0, 3.0]),
        ("fibonacci", [0.5, 0.5, 1.0, 1.5, 2.5]),
    ],
)
def test_delay_sequences_are_capped(backoff, expected):
    policy = RetryPolicy(backoff=backoff, max_attempts=6, base_delay_s=0.5, max_delay_s=3.0)
    assert list(policy.delays()) == expected


def test_jitter_is_seeded_bounded_and_repeatable():
    policy = RetryPolicy(
        backoff="constant", max_attempts=50, base_delay_s=1.0, max_delay_s=10, jitter=0.2, seed=7
    )
    first, second = list(policy.delays()), list(policy.delays())
    assert first == second and len(set(first)) > 1
    assert all(0.8 <= d <= 1.2 for d in first)
    assert list(policy.model_copy(update={"seed": 8}).delays()) != first


def test_retry_gives_up_after_max_attempts_and_counts():
    calls, slept, retried = [], [], []

    def flaky():
        calls.append(1)
        raise RuntimeError("down")

    policy = RetryPolicy(backoff="linear", max_attempts=3, base_delay_s=0.1)
    with pytest.raises(RetriesExhausted) as exc:
        retry(policy, "buffer", flaky, sleep=slept.append, on_retry=retried.append)
    assert len(calls) == 3 and slept == [0.1, 0.2] and retried == ["buffer", "buffer"]
    assert exc.value.attempts == 3 and exc.value.domain == "buffer"


def test_retry_returns_on_success_and_does_not_catch_other_errors():
    outcomes = iter([RuntimeError("x"), 42])

    def call():
        o = next(outcomes)
        if isinstance(o, Exception):
            raise o
        return o

    assert retry(RetryPolicy(max_attempts=2), "engine", call, sleep=lambda _s: None) == 42
    with pytest.raises(KeyError):
        retry(RetryPolicy(), "engine", lambda: {}["k"], retry_on=(RuntimeError,), sleep=lambda _s: None)
