"""The one launcher reaps what it started: process groups, a bound before SIGKILL, replaced
processes, exceptions. A stand-in worker (a small Python script) replaces `regime-fleet run`."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from harness.launcher import Launcher, free_port

# argv[1] is the "worker": ignore-term ignores SIGTERM, parent starts a grandchild (pid in a file).
WORKER = """
import os, signal, subprocess, sys, time
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[1] == "parent":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(os.environ["CHILD_PID_FILE"], "w").write(str(child.pid))
print("started", flush=True)
time.sleep(600)
"""

PRINT_ENV = """
import os
for key in sorted(os.environ):
    if key.startswith("REGIME_FLEET_RUNTIME__"):
        print(f"{key}={os.environ[key]}")
"""


def launcher(tmp_path: Path) -> Launcher:
    env = {**os.environ, "CHILD_PID_FILE": str(tmp_path / "child.pid")}
    return Launcher(tmp_path / "logs", env, command=[sys.executable, "-c", WORKER])


def started(fleet: Launcher, name: str) -> None:
    """Wait until the stand-in has set up its signal handling (it logs `started`)."""
    deadline = time.monotonic() + 20
    while "started" not in fleet.log(name):
        assert time.monotonic() < deadline, fleet.log(name)
        time.sleep(0.02)


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_each_process_leads_a_group_of_its_own_and_the_group_is_ended(tmp_path: Path) -> None:
    fleet = launcher(tmp_path)
    proc = fleet.start("parent")
    started(fleet, "parent")
    grandchild = int((tmp_path / "child.pid").read_text())
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    assert os.getpgid(grandchild) == proc.pid
    assert fleet.terminate("parent", timeout_s=10) == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(grandchild), "the worker's own child outlived it"


def test_a_process_that_ignores_sigterm_is_killed_after_the_bound(tmp_path: Path) -> None:
    fleet = launcher(tmp_path)
    proc = fleet.start("ignore-term")
    started(fleet, "ignore-term")
    began = time.monotonic()
    assert fleet.terminate("ignore-term", timeout_s=0.5) is None  # None: it took the SIGKILL
    assert 0.5 <= time.monotonic() - began < 5
    assert proc.returncode == -signal.SIGKILL


def test_stop_all_reports_each_exit_code_and_a_replaced_process_is_reaped_too(tmp_path: Path) -> None:
    fleet = launcher(tmp_path)
    first = fleet.start("sleeper", "api")
    second = fleet.start("sleeper", "api")  # the same name again: `procs` keeps the latest only
    fleet.start("ignore-term")
    for name in ("api", "ignore-term"):
        started(fleet, name)
    assert fleet.procs["api"] is second
    codes = fleet.stop_all(timeout_s=0.5)
    assert codes == {"api": -signal.SIGTERM, "ignore-term": -signal.SIGKILL}
    assert first.poll() is not None, "the replaced process outlived stop_all"
    assert fleet.workers == ["sleeper", "ignore-term"]


def test_leaving_the_block_on_an_exception_reaps_everything(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), launcher(tmp_path) as fleet:
        procs = [fleet.start("sleeper", f"s{i}") for i in range(3)]
        raise KeyboardInterrupt
    assert all(p.poll() is not None for p in procs)


def test_start_fleet_gives_each_replica_its_instance_state_dir_and_port(tmp_path: Path) -> None:
    fleet = Launcher(
        tmp_path / "logs",
        {**os.environ, "REGIME_FLEET_RUNTIME__STATE_DIR": "st"},
        command=[sys.executable, "-c", PRINT_ENV],
    )
    fleet.start_fleet(["ingest", "engine"], {"engine": 2})
    for proc in fleet.procs.values():
        assert proc.wait(20) == 0
    assert list(fleet.procs) == ["ingest", "engine", "engine-2"]
    assert len(set(fleet.ports.values())) == 3
    second = fleet.log("engine-2")
    assert "REGIME_FLEET_RUNTIME__INSTANCE_ID=engine-2" in second
    assert "REGIME_FLEET_RUNTIME__STATE_DIR=st/engine-2" in second
    assert f"REGIME_FLEET_RUNTIME__HTTP_PORT={fleet.ports['engine-2']}" in second
    assert "INSTANCE_ID" not in fleet.log("engine")
    assert "REGIME_FLEET_RUNTIME__STATE_DIR=st\n" in fleet.log("engine")


def test_free_ports_are_listenable_and_outside_the_kernels_ephemeral_range() -> None:
    """A worker keeps its port across restarts: a port the kernel also hands to outgoing
    connections could be taken meanwhile ("Address already in use" on every restart)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(p < low for p in ports), ports
    assert len(ports) > 1, "the same port every time: parallel fleets would collide"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))
        sock.listen()
