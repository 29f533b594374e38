"""The project's own broker script: idempotent up, clean down, stale pid and half-formatted
data dir handled. Runs a second broker on its own port, only where the local broker is used."""

from __future__ import annotations

import os
import signal
import time

import pytest

from harness.broker.local import LocalBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="an external broker is configured"
    ),
]


def test_up_down_are_idempotent_and_recover_from_stale_state(kafka_bootstrap):
    broker = LocalBroker(port=int(os.environ.get("KAFKA_PORT", "9092")) + 17)
    broker.down()
    try:
        broker.up()
        pid = broker.running_pid()
        assert pid is not None and broker.answers(timeout_s=5)

        started = time.monotonic()
        assert broker.up() == broker.bootstrap and broker.running_pid() == pid  # healthy: no-op
        assert time.monotonic() - started < 10

        os.kill(pid, signal.SIGKILL)  # leaves a stale pid file behind
        time.sleep(1)
        assert broker.running_pid() is None
        (broker.data_dir / "meta.properties").unlink()  # and a half-formatted data dir
        broker.up()
        assert broker.running_pid() not in (None, pid) and broker.answers(timeout_s=5)
    finally:
        assert broker.down() is True
    assert broker.status()["running"] is False
    assert broker.down() is False
