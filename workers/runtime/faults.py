"""Where a test may inject faults into a live worker, and the production default: none.

The runtime asks its `Faults` before each checkpoint commits and lets it wrap what the edges
lend the core. The injectors themselves are test code (tests/faults.py); nothing a production
worker runs can turn one on.
"""

from __future__ import annotations

from typing import Protocol

from workers.processing import Edges


class Faults(Protocol):
    def checkpoint(self, dirty: set[int], batch: set[int]) -> dict[str, set[int]]:
        """Retry domain -> partitions whose checkpoint must fail now (dirty: with store changes)."""
        ...

    def edges(self, edges: Edges) -> Edges:
        """What the core is lent, possibly wrapped to fail."""
        ...


class NoFaults:
    def checkpoint(self, dirty: set[int], batch: set[int]) -> dict[str, set[int]]:
        return {}

    def edges(self, edges: Edges) -> Edges:
        return edges


NO_FAULTS: Faults = NoFaults()
