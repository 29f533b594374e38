"""Run official Apache Kafka as one KRaft broker+controller on 127.0.0.1, without Docker.

Maven fetches the broker jars into a git-ignored cache; everything the broker writes
(pid, logs, data) lives under that cache, one folder per port.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("pom.xml")


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted, started or stopped."""


def cache_root() -> Path:
    env = os.environ.get("REGIME_FLEET_KAFKA_HOME")
    if env:
        return Path(env)
    # The checkout's .cache/kafka: this file is <checkout>/harness/src/harness/broker/local.py.
    return Path(__file__).resolve().parents[4] / ".cache" / "kafka"


@dataclass(frozen=True)
class LocalBroker:
    port: int = 9092
    root: Path = field(default_factory=cache_root)

    @property
    def controller_port(self) -> int:
        return self.port + 1000

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return self.root / KAFKA_VERSION / "libs"

    @property
    def home(self) -> Path:
        return self.root / f"broker-{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    # -- public commands -------------------------------------------------------------

    def up(self, timeout_s: float = 120.0) -> str:
        """Start the broker unless a healthy one already runs; return its bootstrap address.
        One process at a time (a lock file): test processes started together wait for the
        first one's broker instead of formatting the same data dir twice."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "up.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._up(timeout_s)

    def _up(self, timeout_s: float) -> str:
        pid = self.running_pid()
        if pid is not None and self.answers(timeout_s=5):
            return self.bootstrap
        if pid is not None:
            self._stop_pid(pid)
        self.fetch()
        self._write_config()
        self._format_storage()
        self._wait_ready(self._start(), timeout_s)
        return self.bootstrap

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker; True if one was running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._stop_pid(pid, timeout_s)
        return True

    def status(self) -> dict[str, object]:
        pid = self.running_pid()
        return {
            "bootstrap": self.bootstrap,
            "pid": pid,
            "running": pid is not None,
            "ready": pid is not None and self.answers(timeout_s=5),
            "kafka_version": KAFKA_VERSION,
            "home": str(self.home),
        }

    # -- what a secure variant (broker/secure.py) changes --------------------------------

    def extra_properties(self) -> dict[str, str]:
        """server.properties entries added to (or replacing) the plain ones."""
        return {}

    def format_args(self) -> list[str]:
        """More arguments of `StorageTool format` (e.g. SCRAM credentials)."""
        return []

    def client_config(self) -> dict[str, str]:
        """librdkafka properties of an admin client of this broker."""
        return {"bootstrap.servers": self.bootstrap}

    # -- steps -----------------------------------------------------------------------

    def fetch(self) -> None:
        """Copy the broker's runtime jars from Maven Central into the cache (once)."""
        marker = self.libs / ".complete"
        if marker.exists():
            return
        if shutil.which("mvn") is None:
            raise BrokerError("Maven (mvn) is not on PATH: install Maven, or set KAFKA_BOOTSTRAP_SERVERS")
        if shutil.which("java") is None:
            raise BrokerError("java is not on PATH: install a JDK 17+, or set KAFKA_BOOTSTRAP_SERVERS")
        self.libs.mkdir(parents=True, exist_ok=True)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.libs}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{done.stdout}{done.stderr}")
        marker.touch()

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # One node: every internal topic needs replication factor 1 and min ISR 1.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # KIP-848 groups (runtime.group_protocol=consumer) take the session timeout and the
            # heartbeat interval from the broker, not the client: 45 s and 5 s by default (and
            # at least that); a new member learns its partitions on a heartbeat, and a dead one
            # holds them for the session (docs/reliability.md, "Group protocol").
            "group.consumer.min.session.timeout.ms": "6000",
            "group.consumer.session.timeout.ms": "6000",
            "group.consumer.min.heartbeat.interval.ms": "500",
            "group.consumer.heartbeat.interval.ms": "1000",
            "log.cleaner.backoff.ms": "1000",
            "delete.topic.enable": "true",
            **self.extra_properties(),
        }
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        (self.home / "server.properties").write_text(text)
        (self.home / "log4j2.properties").write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.file.ref=file\n"
            "appender.file.type=File\nappender.file.name=file\n"
            f"appender.file.fileName={self.log_file}\n"
            "appender.file.layout.type=PatternLayout\n"
            "appender.file.layout.pattern=[%d] %p %m (%c)%n\n"
        )

    def _format_storage(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        # A half-formatted or foreign data dir is wiped: this broker owns it alone.
        shutil.rmtree(self.data_dir, ignore_errors=True)
        cluster_id = "-"
        while cluster_id.startswith(
            "-"
        ):  # the storage tool would read it as an option (Kafka's own ids avoid it too)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        done = subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.home / "server.properties"),
                *self.format_args(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise BrokerError(f"formatting KRaft storage failed:\n{done.stdout}{done.stderr}")

    def _start(self) -> subprocess.Popen[bytes]:
        out = (self.home / "stdout.log").open("ab")
        proc = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(self.home / "server.properties")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"the broker exited during start-up; see {self.log_file}\n{self._tail()}")
            if self.answers(timeout_s=2):
                return
        raise BrokerError(f"the broker did not answer within {timeout_s:.0f}s; see {self.log_file}")

    def answers(self, timeout_s: float) -> bool:
        """True when an AdminClient call succeeds against this broker."""
        admin = AdminClient({**self.client_config(), "log_level": 0})
        try:
            admin.list_topics(timeout=timeout_s)
        except Exception:
            return False
        return True

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"kafka.Kafka" in cmdline else None

    def _stop_pid(self, pid: int, timeout_s: float = 30.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                if _is_zombie(pid):
                    break
                time.sleep(0.2)
            else:
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.pid_file.unlink(missing_ok=True)

    def _tail(self, lines: int = 30) -> str:
        for f in (self.home / "stdout.log", self.log_file):
            if f.exists():
                return "\n".join(f.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
