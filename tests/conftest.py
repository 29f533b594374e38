"""The whole suite's last check: no test may leave a process of its own running.

At the end of the session every child of the pytest process still running is a leak (the
local broker the session started for itself and then stopped aside): the run fails, names
each one, and ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check what is produced, never how fast: no per-example deadline (a loaded
# 2-core machine running the suite in two processes is slow, not wrong).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def _children(parent: int) -> dict[int, str]:
    """pid -> command line of every running (not zombie) child of `parent`, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # it exited while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _session_broker() -> int | None:
    """The pid of the local broker on KAFKA_PORT (from its pid file), which
    tests/integration/conftest.py starts when none runs: the session's own, never a leak."""
    from harness.broker.local import LocalBroker

    return LocalBroker(port=int(os.environ.get("KAFKA_PORT", "9092"))).running_pid()


@pytest.hookimpl(trylast=True)  # after the session's own teardown (fixtures, the broker's down())
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = _children(os.getpid())
    left.pop(_session_broker() or -1, None)
    if not left:
        return
    title = "a test left processes running (the run fails; they are ended now)"
    lines = [f"pid {pid}: {cmd}" for pid, cmd in sorted(left.items())]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.line("")
        reporter.write_sep("=", title, red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join([title, *lines]))
    _end(left)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _end(pids: dict[int, str]) -> None:
    """SIGTERM, then SIGKILL after a bound: the leaked processes do not outlive the run either."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
