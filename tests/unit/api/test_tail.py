"""A tail that hits a Kafka error (a partition whose leader is not elected yet, a broker
restarting) starts over instead of dying: the api recovers by itself."""

from __future__ import annotations

from typing import Any

from workers.api.tail import Tail
from workers.config import load_settings
from workers.contracts import Serde


class _Log:
    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.errors.append({"event": event, **fields})


def test_a_failing_tail_starts_over() -> None:
    log = _Log()
    tail = Tail(load_settings(partitions=1), Serde(), "regime.events", [0], lambda batch: None, log)
    attempts = []

    def follow() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("Not leader for partition")

    tail._follow = follow  # type: ignore[method-assign]
    tail._stop.wait = lambda timeout=None: False  # type: ignore[method-assign]
    tail._loop()
    assert len(attempts) == 2
    assert log.errors == [
        {"event": "tail_failed", "topic": "regime.events", "error": "RuntimeError: Not leader for partition"}
    ]
