"""The chaos suite's own broker and a supervised fleet of worker processes (started and reaped
by the one launcher), with fault actions against both."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from harness.broker.local import LocalBroker
from harness.launcher import Launcher, free_port, isolated_env, settings_in
from workers.clients import murmur2_partition
from workers.config import FleetSettings
from workers.runtime.admin import delete_topics, ensure_topics
from workers.topics import EVENTS
from workers.topology import load_topology

# The regime pipeline: every worker that feeds regime.events (what the scenarios judge).
WORKERS = tuple(load_topology(1).upstream(EVENTS))
SHARED_TEST_PORT = 9092  # the integration tests' broker: never restarted by this suite
Key = tuple[str, int, str]


class HarnessError(RuntimeError):
    """The harness itself could not set up or drive a scenario (not a fleet failure)."""


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's murmur2 partitioner (Java clients, `murmur2_random`) gives a key."""
    return murmur2_partition(key, partitions)


# -- the broker ------------------------------------------------------------------------


class ChaosBroker:
    """The suite's own local broker (stopped at the end if the suite started it), or an
    external one (KAFKA_BOOTSTRAP_SERVERS) that the suite never restarts."""

    def __init__(self, port: int, external: str | None = None) -> None:
        if external is None and port == SHARED_TEST_PORT:
            raise HarnessError("the chaos suite restarts its broker: give it another port than 9092")
        self.external = external
        self.local = None if external else LocalBroker(port=port)
        self.started_here = False

    @property
    def can_restart(self) -> bool:
        return self.local is not None

    def up(self) -> str:
        if self.local is None:
            assert self.external is not None
            return self.external
        if self.local.running_pid() is None:
            self.started_here = True
        return self.local.up()

    def release(self) -> None:
        if self.local is not None and self.started_here:
            self.local.down()

    def stop_for(self, seconds: float) -> None:
        assert self.local is not None
        self.local.down()
        time.sleep(seconds)
        self.local.up()

    def kill_for(self, seconds: float) -> None:
        assert self.local is not None
        pid = self.local.running_pid()
        if pid is None:
            raise HarnessError("the chaos broker is not running")
        os.kill(pid, signal.SIGKILL)
        time.sleep(seconds)
        self.local.up()


# -- the fleet -------------------------------------------------------------------------


@dataclass
class Proc:
    """One worker process slot; the supervisor keeps it running until it is retired."""

    name: str
    worker: str
    env: dict[str, str]  # its own settings, over the fleet's environment
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    signalled: bool = False  # we sent the signal that ends it: not an unexpected exit
    retired: bool = False
    crashes: int = 0
    restart_at: float = 0.0
    log_offset: int = 0  # where this instance's lines start in the log


class ChaosFleet:
    """The four workers as separate processes, each under a supervisor that restarts it when
    it exits (as Kubernetes would), with a back-off, counting exits we did not cause."""

    def __init__(self, bootstrap: str, prefix: str, root: Path, overrides: dict[str, str]) -> None:
        self.root = root
        self.env = isolated_env(
            bootstrap,
            prefix,
            root,
            overrides,
            REGIME_FLEET_LOG_LEVEL="INFO",
            PYTHONFAULTHANDLER="1",  # a SIGABRT dumps every thread's stack into the log
        )
        self.settings: FleetSettings = settings_in(self.env)
        self.launcher = Launcher(root, self.env)
        self.procs: dict[str, Proc] = {}
        self.exits: list[str] = []  # unexpected exits, with the last log lines
        self.kills = 0
        self.partners: dict[str, str] = {}  # a worker's process -> its warm standby's, and back
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)

    def create_topics(self) -> None:
        ensure_topics(self.settings, load_topology(self.settings.partitions))

    def delete_topics(self) -> None:
        s = self.settings
        delete_topics(s, [s.topic(t) for t in load_topology(s.partitions).topics])

    def start(self, worker: str, name: str | None = None, **extra: str) -> Proc:
        name = name or worker
        proc = Proc(name, worker, {f"REGIME_FLEET_{k.upper()}": v for k, v in extra.items()})
        with self._lock:
            self.procs[name] = proc
            self._spawn(proc)
        if not self._thread.is_alive():
            self._thread.start()
        return proc

    def start_pair(self, worker: str) -> None:
        """A worker and its warm standby: two processes of one identity pinned to slot 0 (one
        holds it, the other waits, imported and not ready)."""
        standby = f"{worker}+standby"
        self.start(worker, runtime__slot="0")
        self.start(worker, standby, runtime__slot="0")
        self.partners |= {worker: standby, standby: worker}

    def active(self, name: str) -> str:
        """The process of `name`'s pair that holds the slot (`name` itself without a pair)."""
        partner = self.partners.get(name)
        if partner is None:
            return name
        status = self.status(name)
        return partner if status is not None and status.get("lifecycle") == "standby" else name

    def log(self, proc: Proc) -> Path:
        return self.root / f"{proc.name}.log"

    def _spawn(self, proc: Proc) -> None:
        log = self.log(proc)
        proc.log_offset = log.stat().st_size if log.exists() else 0
        proc.popen = self.launcher.start(proc.worker, proc.name, env=proc.env, port=proc.port)
        proc.signalled = False

    def _supervise(self) -> None:
        while not self._halt.wait(0.25):
            with self._lock:
                for proc in self.procs.values():
                    self._check(proc)

    def _check(self, proc: Proc) -> None:
        assert proc.popen is not None
        code = proc.popen.poll()
        if code is None or proc.retired:
            return
        now = time.monotonic()
        if proc.signalled:
            self._spawn(proc)
            return
        if proc.restart_at == 0.0:  # a crash: log it once, restart after a back-off
            proc.crashes += 1
            proc.restart_at = now + min(10.0, 2.0 ** (proc.crashes - 1))
            self.exits.append(f"{proc.name} exited {code}: {last_errors(self.log(proc), proc.log_offset)}")
        elif now >= proc.restart_at:
            proc.restart_at = 0.0
            self._spawn(proc)

    def kill(self, name: str) -> None:
        """SIGKILL a worker and start its replacement at once (a pod restarted in place)."""
        name = self.active(name)
        with self._lock:
            proc = self.procs[name]
            proc.signalled = True
            self.launcher.kill(name)
            self.kills += 1
            self._spawn(proc)

    def send_signal(self, name: str, sig: signal.Signals) -> None:
        with self._lock:
            proc = self.procs[name]
            if sig in (signal.SIGKILL, signal.SIGTERM):
                proc.signalled = True
            self.launcher.send_signal(name, sig)

    def restart(
        self, name: str, timeout_s: float = 40.0, between: Callable[[], None] | None = None
    ) -> int | None:
        """SIGTERM, wait for the drain, run `between`, start again; the exit code (None: had
        to SIGKILL). Of a pair, the process holding the slot."""
        name = self.active(name)
        code = self._terminate(name, timeout_s)
        if between is not None:
            between()
        with self._lock:
            proc = self.procs[name]
            proc.retired = False
            self._spawn(proc)
        return code

    def retire(self, name: str, timeout_s: float = 40.0) -> int | None:
        """SIGTERM and do not restart (scale down); the exit code (None: had to SIGKILL)."""
        return self._terminate(name, timeout_s)

    def _terminate(self, name: str, timeout_s: float) -> int | None:
        with self._lock:
            proc = self.procs[name]
            proc.retired = proc.signalled = True  # the supervisor keeps its hands off while it drains
        return self.launcher.terminate(name, timeout_s)

    def stop_all(self, timeout_s: float = 12.0) -> tuple[dict[str, int | None], dict[str, str]]:
        """SIGTERM everything; what has not drained after timeout_s gets SIGABRT (faulthandler
        writes every thread's stack to its log) and then SIGKILL. Returns the exit codes
        (None: did not drain) and, per worker that did not, where it was stuck."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with self._lock:
            live = [p for p in self.procs.values() if p.popen is not None and p.popen.poll() is None]
            for p in live:
                p.retired = p.signalled = True
                self.launcher.send_signal(p.name, signal.SIGTERM)
        codes: dict[str, int | None] = {}
        stacks: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        for p in live:
            assert p.popen is not None
            try:
                codes[p.name] = p.popen.wait(max(0.1, deadline - time.monotonic()))
                continue
            except subprocess.TimeoutExpired:
                codes[p.name] = None
            self.launcher.terminate(p.name, 5, signal.SIGABRT)
            stacks[p.name] = wedged_at(self.log(p), p.log_offset)
        self.launcher.reap()
        return codes, stacks

    def kill_all(self) -> None:
        """SIGKILL every process this fleet ever started (replaced ones too)."""
        self._halt.set()
        self.launcher.reap(grace_s=0)

    def live(self) -> list[Proc]:
        return [p for p in self.procs.values() if not p.retired]

    def status(self, name: str) -> dict[str, Any] | None:
        """The worker's /status, or None when it does not answer."""
        try:
            url = f"http://127.0.0.1:{self.procs[name].port}/status"
            with urllib.request.urlopen(url, timeout=2) as r:
                return dict(json.loads(r.read()))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def wait_ready(
        self, timeout_s: float = 90.0, names: list[str] | None = None, *, assigned: bool = True
    ) -> None:
        """Every named (default: live) worker running and ready, and assigned partitions."""
        deadline = time.monotonic() + timeout_s
        pending = names if names is not None else [p.name for p in self.live()]
        while pending and time.monotonic() < deadline:
            time.sleep(0.5)
            pending = [n for n in pending if not self._ready(n, assigned)]
        if pending:
            raise HarnessError(f"workers not ready after {timeout_s:.0f}s: {self.diagnose(pending)}")

    def _ready(self, name: str, assigned: bool) -> bool:
        """Ready and assigned; of a pair, one ready and the other ready or standing by."""
        if name not in self.partners:
            return _ready(self.status(name), assigned)
        both = [self.status(n) for n in (name, self.partners[name])]
        standing_by = sum(1 for st in both if st is not None and st.get("lifecycle") == "standby")
        return standing_by == 1 and any(_ready(st, assigned) for st in both)

    def diagnose(self, names: list[str] | None = None) -> str:
        """What each unhealthy worker says about itself: lifecycle, poll age, lag, last error."""
        parts = []
        for p in self.live() if names is None else [self.procs[n] for n in names]:
            assert p.popen is not None
            crashes = f", {p.crashes} crash(es) so far" if p.crashes else ""
            if p.popen.poll() is not None:
                parts.append(f"{p.name}: exited {p.popen.returncode}{crashes}")
                continue
            st = self.status(p.name)
            if st is None:
                parts.append(f"{p.name}: no /status answer{crashes}")
                continue
            if st.get("lifecycle") == "standby":
                continue
            lag = sum(int(v.get("lag", 0)) for v in st.get("partitions", {}).values())
            poll_age = float(st.get("last_poll_age_s", 0))
            if st.get("ready") and poll_age < 10 and lag <= 2 * self.settings.partitions:
                continue
            error = str(st.get("last_error") or "")[:160]
            pauses = st.get("pause_reasons") or {}
            parts.append(
                f"{p.name}: {st.get('lifecycle')}, ready={st.get('ready')}, last poll {poll_age:.0f}s ago, "
                f"input lag {lag}"
                + (f", paused {pauses}" if pauses else "")
                + (f", last_error {error!r}" if error else "")
            )
        return "; ".join(parts)


def offsets_pending(probe: Consumer, parts: list[TopicPartition]) -> bool:
    """True when the group's committed offsets are unstable: a transaction holds new ones."""
    try:
        return any(tp.error is not None for tp in probe.committed(parts, timeout=0.5))
    except KafkaException:
        return True


def _ready(status: dict[str, Any] | None, assigned: bool) -> bool:
    return bool(status and status.get("ready") and (status.get("assignment") or not assigned))


def _log_since(log: Path, offset: int) -> str:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def last_errors(log: Path, offset: int = 0, lines: int = 2) -> str:
    """The last error-looking lines a worker instance logged, for the report."""
    tail = [ln for ln in _log_since(log, offset).splitlines() if ln and not ln.startswith("%")]
    keep = [ln for ln in tail if '"level": "error"' in ln or "rror" in ln]
    return " | ".join(ln[:300] for ln in (keep or tail)[-lines:])


def wedged_at(log: Path, offset: int) -> str:
    """Where the main thread was when faulthandler dumped the stacks (on our SIGABRT)."""
    text = _log_since(log, offset)
    start = text.rfind("Fatal Python error")
    if start < 0:
        return ""
    for block in re.split(r"\n(?=(?:Current thread|Thread) 0x)", text[start:]):
        if "cli/main.py" in block:
            frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', block)
            return " < ".join(f"{Path(f).name}:{n} {fn}" for f, n, fn in frames[:4])
    return ""


# -- input and output ------------------------------------------------------------------
