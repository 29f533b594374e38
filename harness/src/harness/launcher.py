"""The one launcher of worker processes (`regime-fleet run <worker>`) for the demo, chaos, the
bench and the integration tests: each in a process group of its own, and always reaped.

Reaping: SIGTERM to the group, SIGKILL after a bound. A `with` block or `reap()` does it on
exceptions and KeyboardInterrupt; an atexit hook does it for anything still running at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from workers.config import FleetSettings, load_settings

DAY_MS = 86_400_000
RUN = (sys.executable, "-m", "workers.cli.main", "run")  # + the worker: `regime-fleet run <worker>`
KILL_WAIT_S = 10.0  # after SIGKILL a process is gone at once; the bound only guards a hung kernel

_STARTED: list[subprocess.Popen[bytes]] = []  # every process any launcher started, for atexit


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a worker's /status, /metrics or the api), drawn
    below the kernel's ephemeral range: a worker keeps its port across restarts, and a port the
    kernel hands out to outgoing connections (bind to 0) can be taken by one while the worker is
    down (chaos saw "Address already in use" on every restart)."""
    low, high = _LISTEN_PORTS.start, min(_LISTEN_PORTS.stop, _ephemeral_low())
    for _ in range(64):
        port = _RANDOM.randrange(low, high) if high - low > 64 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError(f"no free TCP port in {low}-{high} on 127.0.0.1")


_LISTEN_PORTS = range(21_000, 32_768)  # above the brokers' (9092, 19092, 19098 and +1000), Redis, the api
_RANDOM = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def isolated_env(
    bootstrap: str, prefix: str, root: Path, overrides: Mapping[str, str], **extra: str
) -> dict[str, str]:
    """This process's environment for a fleet of its own on a shared broker: its topic prefix
    and state dirs, 2 partitions, a daily scheduler; `extra` then `overrides` (REGIME_FLEET_<KEY>)."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REGIME_FLEET_TOPIC_PREFIX": prefix,
        "REGIME_FLEET_PARTITIONS": "2",
        "REGIME_FLEET_RUNTIME__STATE_DIR": str(root / "state"),
        "REGIME_FLEET_RUNTIME__SESSION_TIMEOUT_MS": "6000",
        "REGIME_FLEET_SCHEDULER__INTERVAL_MS": str(DAY_MS),
        **extra,
        **{f"REGIME_FLEET_{k.upper()}": v for k, v in overrides.items()},
    }


def settings_in(env: Mapping[str, str]) -> FleetSettings:
    """The settings a worker started with `env` loads (this process's environment is restored)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """`sig` to the process's group while its leader is not yet reaped (its id cannot be reused)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def await_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    """Wait up to `timeout_s`, then SIGKILL the group: the exit code, or None when it took the SIGKILL."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(max(timeout_s, 0.0))
    signal_group(proc, signal.SIGKILL)
    proc.wait(KILL_WAIT_S)
    return None


def end(proc: subprocess.Popen[bytes], grace_s: float, sig: int = signal.SIGTERM) -> int | None:
    """`sig` to the group, SIGKILL once `grace_s` passed (0: at once): the exit code, or None
    when it took the SIGKILL."""
    if grace_s > 0:
        signal_group(proc, sig)
    return await_exit(proc, grace_s)


def reap(procs: Iterable[subprocess.Popen[bytes]], grace_s: float) -> None:
    """End every process that still runs: SIGTERM to all at once, SIGKILL after `grace_s`."""
    live = [p for p in procs if p.poll() is None]
    for proc in live if grace_s > 0 else ():
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in live:
        await_exit(proc, deadline - time.monotonic())


class Launcher:
    """Worker processes of one fleet; `procs` holds the latest process of each name, and every
    process ever started here (replaced ones too) is reaped by `reap()`."""

    def __init__(
        self, log_dir: Path, env: Mapping[str, str] | None = None, command: Sequence[str] = RUN
    ) -> None:
        self.log_dir = log_dir
        self.command = list(command)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ if env is None else env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}  # each process's /status and /metrics, when given one
        self.workers: list[str] = []  # the workers started here, each once, in the order started
        self._started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Launcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.reap()

    def start(
        self,
        worker: str,
        name: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        command: Sequence[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """`regime-fleet run <worker>` as `name` (default: the worker), logging to <name>.log;
        `port`: its HTTP port (/status, /metrics); `command`: another runner of one worker
        (the tests' fault injector)."""
        name = name or worker
        full = {**self.env, **(env or {})}
        if port is not None:
            self.ports[name] = port
            full["REGIME_FLEET_RUNTIME__HTTP_PORT"] = str(port)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [*(command or self.command), worker],
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: reaped whole, spared the terminal's ^C
            )
        _STARTED[:] = [p for p in _STARTED if p.returncode is None]
        _STARTED.append(proc)
        self._started.append(proc)
        self.procs[name] = proc
        if worker not in self.workers:
            self.workers.append(worker)
        return proc

    def start_fleet(self, workers: Iterable[str], replicas: Mapping[str, int] | None = None) -> None:
        """Each worker as replicas[worker] processes (default one), each its own instance, state
        dir and HTTP port: `<worker>`, `<worker>-2`, ..."""
        state = self.env.get("REGIME_FLEET_RUNTIME__STATE_DIR", "state")
        for worker in workers:
            for i in range((replicas or {}).get(worker, 1)):
                name = f"{worker}-{i + 1}" if i else worker
                env = (
                    {
                        "REGIME_FLEET_RUNTIME__INSTANCE_ID": name,
                        "REGIME_FLEET_RUNTIME__STATE_DIR": f"{state}/{name}",
                    }
                    if i
                    else {}
                )
                self.start(worker, name, env=env, port=self.ports.get(name) or free_port())

    def alive(self) -> dict[str, bool]:
        return {name: p.poll() is None for name, p in self.procs.items()}

    def send_signal(self, name: str, sig: int) -> None:
        signal_group(self.procs[name], sig)

    def kill(self, name: str) -> None:
        """SIGKILL at once (a crash, a pod killed)."""
        end(self.procs[name], 0)

    def terminate(self, name: str, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> int | None:
        """`sig`, then SIGKILL after `timeout_s`: the exit code, or None when it took the SIGKILL."""
        return end(self.procs[name], timeout_s, sig)

    def stop_all(self, timeout_s: float = 30.0) -> dict[str, int]:
        """SIGTERM every process at once, SIGKILL what has not exited `timeout_s` later: the exit
        code of each name (-9: killed)."""
        for proc in self.procs.values():
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes = {}
        for name, proc in self.procs.items():
            await_exit(proc, deadline - time.monotonic())
            codes[name] = proc.returncode
        self.reap()
        return codes

    def reap(self, grace_s: float = 5.0) -> None:
        """End every process started here that still runs (replaced ones too): SIGTERM, SIGKILL
        after `grace_s` (0: SIGKILL at once)."""
        reap(self._started, grace_s)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


@atexit.register
def _reap_at_exit() -> None:
    """The last resort: nothing a launcher started outlives this interpreter."""
    reap(_STARTED, 5.0)
