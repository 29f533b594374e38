"""Bounded, deterministic retry policies, one per failure domain.

delay(attempt) for attempt = 1, 2, ...: constant: base; linear: base * attempt;
exponential: base * 2^(attempt-1); fibonacci: base * fib(attempt) (1, 1, 2, 3, 5, ...).
Each delay is capped at max_delay_s; optional jitter multiplies it by a factor in
[1 - jitter, 1 + jitter] drawn from a generator seeded with `seed`, so a policy always
yields the same sequence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
DOMAINS = ("ingest", "buffer", "engine", "state", "publish")


class RetryPolicy(BaseModel):
    backoff: Literal["constant", "linear", "exponential", "fibonacci"] = "exponential"
    max_attempts: int = Field(3, ge=1)
    base_delay_s: float = Field(0.1, ge=0)
    max_delay_s: float = Field(5.0, ge=0)
    jitter: float = Field(0.0, ge=0, le=1)
    seed: int = 0

    def delays(self) -> Iterator[float]:
        """The waits between attempts: max_attempts - 1 of them."""
        rng = random.Random(self.seed)
        a, b = 1, 1
        for attempt in range(1, self.max_attempts):
            raw = {
                "constant": self.base_delay_s,
                "linear": self.base_delay_s * attempt,
                "exponential": self.base_delay_s * 2 ** (attempt - 1),
                "fibonacci": self.base_delay_s * a,
            }[self.backoff]
            a, b = b, a + b
            delay = min(raw, self.max_delay_s)
            if self.jitter:
                delay *= 1 + rng.uniform(-self.jitter, self.jitter)
            yield min(delay, self.max_delay_s)


class RetriesExhausted(Exception):
    def __init__(self, domain: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"{domain}: gave up after {attempts} attempts: {last}")
        self.domain, self.attempts, self.last = domain, attempts, last


def retry(
    policy: RetryPolicy,
    domain: str,
    call: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str], None] = lambda _domain: None,
) -> T:
    """Call until it succeeds or the policy's attempts run out (then RetriesExhausted)."""
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except retry_on as exc:
            delay = next(delays, None)
            if delay is None:
                raise RetriesExhausted(domain, attempt, exc) from exc
            on_retry(domain)
            sleep(delay)
