"""The bench's broker warm-up: windows until the broker compiles little, bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.bench.steady import WARM_UP_MAX_S, WARM_UP_S, Window, warm_up


class Windows:
    """Stands in for Steady: each window reports the next compile time per 1,000 events."""

    def __init__(self, jit: list[float | None]) -> None:
        self._jit: Iterator[float | None] = iter(jit)
        self.windows: list[Window] = []

    def window(self, w: Window, offered: Any) -> dict[str, Any]:
        self.windows.append(w)
        return {"broker_jit_s_per_1000": next(self._jit)}

    def drain(self) -> float:
        return 0.0


def test_it_warms_until_the_broker_compiles_little() -> None:
    fake = Windows([0.3, 0.1, 0.01])  # at 5,000/s: 1.5, 0.5, then 0.05 s of compiling a second
    found = warm_up(fake, None, 5_000)  # type: ignore[arg-type]
    assert [w.rate for w in fake.windows] == [5_000] * 3
    assert found["warm_up_s"] == 3 * WARM_UP_S and found["broker_jit_s_per_1000"] == 0.01


def test_it_stops_at_the_bound_and_without_a_compile_time() -> None:
    always = Windows([1.0] * 100)
    assert warm_up(always, None, 5_000)["warm_up_s"] == WARM_UP_MAX_S  # type: ignore[arg-type]
    assert len(always.windows) == WARM_UP_MAX_S // WARM_UP_S
    unknown = Windows([None])  # no local broker, or no jcmd: one window
    assert warm_up(unknown, None, 5_000)["warm_up_s"] == WARM_UP_S  # type: ignore[arg-type]
