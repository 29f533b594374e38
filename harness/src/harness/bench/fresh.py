"""Every bench part runs on topics of its own: a fresh prefix, created before and deleted
after, and the environment its worker processes get."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.config import FleetSettings, load_settings
from workers.runtime.admin import delete_topics, ensure_topics
from workers.topology import Topology, load_topology

PARTITIONS = 2
INTERVAL_MS = 60_000  # the scheduler's boundary interval in the bench


def fleet_env(prefix: str, root: Path, *, partitions: int = PARTITIONS) -> dict[str, str]:
    return {
        "REGIME_FLEET_TOPIC_PREFIX": prefix,
        "REGIME_FLEET_PARTITIONS": str(partitions),
        "REGIME_FLEET_SCHEDULER__INTERVAL_MS": str(INTERVAL_MS),
        "REGIME_FLEET_RUNTIME__STATE_DIR": str(root / prefix / "state"),
        "REGIME_FLEET_LOG_LEVEL": "WARNING",
    }


@contextmanager
def fresh_topics(
    prefix: str, root: Path, *, partitions: int = PARTITIONS
) -> Iterator[tuple[FleetSettings, Topology]]:
    """The settings and topology of `prefix` (also set in this process's environment), with
    every topic created; they are deleted when the block ends."""
    os.environ.update(fleet_env(prefix, root, partitions=partitions))
    settings = load_settings()
    topology = load_topology(settings.partitions)
    ensure_topics(settings, topology)
    try:
        yield settings, topology
    finally:
        delete_topics(settings, [settings.topic(t) for t in topology.topics])
