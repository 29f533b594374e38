"""Bounded, deterministic retry policies, one per failure domain.

Domains: `buffer` (market.buffer appends and direct reads), `state` (checkpoints that carry
store changes), `engine` and `publish` (the engine's and publisher's checkpoints). Which
worker uses which is declared in topology/fleet.yaml (`retry`).

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
DOMAINS = ("buffer", "state", "engine", "publish")


class RetryPolicy(BaseModel):
    backoff: Literal["constant", "linear", "exponential", "fibonacci"] = "exponential"
    max_attempts: int = Field(3, ge=1)
    base_delay_s: float = Field(0.1, ge=0)
    max_delay_s: float = Field(5.0, ge=0)
    jitter: float = Field(0.0, ge=0, le=1)
    seed: int = 0

    def delays(self) -> Iterator[float]:
        """The waits between attempts: max_attempts - 1 of them."""
        for attempt in range(1, self.max_attempts):
            yield self.delay(attempt)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1, 2, ...), without bound on `attempt`."""
        growth = {
            "constant": 1.0,
            "linear": float(attempt),
            "exponential": 2.0 ** min(attempt - 1, 64),
            "fibonacci": float(_fib(attempt)),
        }[self.backoff]
        delay = min(self.base_delay_s * growth, self.max_delay_s)
        if self.jitter:
            delay *= 1 + random.Random(self.seed * 1_000_003 + attempt).uniform(-self.jitter, self.jitter)
        return min(delay, self.max_delay_s)


def _fib(n: int) -> int:
    a, b = 1, 1
    for _ in range(min(n, 90) - 1):
        a, b = b, a + b
    return a


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
