"""The tests' fault injector: a live worker that fails where a test says, started as
`python -m tests.faults <worker>` with the faults in the environment (never product settings).

- TEST_FAULT_FILE: while the file exists, its `state:<p>` lines fail checkpoints with store
  changes of partition p, `produce:<p>` any checkpoint of partition p (`*`: every partition).
- TEST_FAIL_SYMBOLS: a JSON list of symbols whose direct reads fail for good (INJECTED_FAULT),
  so every engine run of them fails after `engine.max_attempts` attempts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workers.processing import Edges, ReadError, Reads

FAULT_FILE = "TEST_FAULT_FILE"
FAIL_SYMBOLS = "TEST_FAIL_SYMBOLS"


@dataclass(frozen=True)
class FailingReads:
    """Direct reads that fail for good when the record read belongs to one of `symbols`."""

    inner: Reads
    symbols: frozenset[str]
    attempts: int

    def get(self, topic: str, partition: int, offset: int) -> Mapping[str, Any]:
        value = self.inner.get(topic, partition, offset)
        symbol = (value.get("event") or {}).get("symbol", value.get("symbol"))
        if symbol in self.symbols:
            raise ReadError(
                "INJECTED_FAULT", f"the test's fault injector fails reads of {symbol}", self.attempts
            )
        return value

    def tail(self, topic: str, partition: int, count: int) -> list[Mapping[str, Any]]:
        return self.inner.tail(topic, partition, count)


@dataclass(frozen=True)
class InjectedFaults:
    """The runtime's `Faults` for a test: a fault file and failing symbols."""

    checkpoint_domain: str
    fault_file: Path | None = None
    fail_symbols: frozenset[str] = frozenset()
    attempts: int = 1

    def checkpoint(self, dirty: set[int], batch: set[int]) -> dict[str, set[int]]:
        if self.fault_file is None or not self.fault_file.exists():
            return {}
        lines = self.fault_file.read_text().split()

        def hit(kind: str, candidates: set[int]) -> set[int]:
            return {p for p in candidates if f"{kind}:{p}" in lines or f"{kind}:*" in lines}

        return {"state": hit("state", dirty), self.checkpoint_domain: hit("produce", batch | dirty)}

    def edges(self, edges: Edges) -> Edges:
        if not self.fail_symbols:
            return edges
        return replace(edges, reads=FailingReads(edges.reads, self.fail_symbols, self.attempts))


def from_environment(checkpoint_domain: str, attempts: int) -> InjectedFaults:
    path = os.environ.get(FAULT_FILE)
    symbols = json.loads(os.environ.get(FAIL_SYMBOLS, "[]"))
    return InjectedFaults(checkpoint_domain, Path(path) if path else None, frozenset(symbols), attempts)


def main(argv: list[str]) -> int:
    """Run one stream worker, as `regime-fleet run <worker>` would, with the injected faults."""
    from workers.config import load_settings
    from workers.engine.settings import EngineSettings
    from workers.runtime.app import build_worker
    from workers.runtime.observability import configure_logging
    from workers.topology import load_topology

    (name,) = argv
    configure_logging(os.environ.get("REGIME_FLEET_LOG_LEVEL", "INFO"))
    settings = load_settings()
    topology = load_topology(settings.partitions)
    attempts = EngineSettings.of(settings).max_attempts
    faults = from_environment(topology.worker(name).checkpoint_domain, attempts)
    return build_worker(name, settings, topology, faults=faults).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
