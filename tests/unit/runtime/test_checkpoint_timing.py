"""When a checkpoint is due: at the commit interval while input keeps arriving, at once when
the input is drained, never with nothing open; and how long the poll may wait for input."""

from __future__ import annotations

import math
import time
from typing import Any

from workers.config import FleetSettings, RuntimeSettings
from workers.runtime.checkpoint import Checkpoint, _Transaction
from workers.runtime.context import RuntimeContext
from workers.topology import load_topology


def checkpoint(**runtime: Any) -> Checkpoint:
    settings = FleetSettings(runtime=RuntimeSettings(**runtime))
    ctx = RuntimeContext.build("ingest", settings, load_topology(settings.partitions))
    # Timing needs only the settings and the open transaction: no client or store.
    return Checkpoint(ctx, None, lambda: None)  # type: ignore[arg-type]


def test_nothing_open_is_never_due_and_the_poll_waits_its_full_timeout() -> None:
    cp = checkpoint(commit_interval_ms=100, commit_idle_ms=10)
    assert not cp.due() and not cp.due(drained=True)
    assert math.isinf(cp.due_in()) and math.isinf(cp.idle_s())


def test_open_checkpoint_is_due_at_the_interval_while_input_keeps_arriving() -> None:
    cp = checkpoint(commit_interval_ms=100, commit_idle_ms=10)
    cp.txn = _Transaction(started=time.monotonic())
    assert not cp.due()
    assert 0.05 < cp.due_in() <= 0.1
    assert cp.idle_s() == 0.01  # the poll waits at most this long for more input
    cp.txn.started -= 0.1
    assert cp.due() and cp.due_in() == 0.0


def test_drained_input_commits_at_once_unless_idle_commits_are_off() -> None:
    cp = checkpoint(commit_interval_ms=100, commit_idle_ms=10)
    cp.txn = _Transaction(started=time.monotonic())
    assert cp.due(drained=True)
    off = checkpoint(commit_interval_ms=100, commit_idle_ms=0)
    off.txn = _Transaction(started=time.monotonic())
    assert not off.due(drained=True)
    assert math.isinf(off.idle_s())
