"""A worker's process: its HTTP endpoints, the start (topics, credentials, configuration, the
producer), the loop until SIGTERM/SIGINT, the drain inside a deadline, and the close.

Lifecycle: init -> running -> drained -> stopped; degraded (not ready, saying why) on a refusal,
a store that cannot be rebuilt from its inputs, or missing topics. A start that cannot proceed
waits, not ready, and retries.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from confluent_kafka import KafkaException

from workers import clients
from workers.contracts.codec import codec_path
from workers.processing import StoreCorruption
from workers.runtime.admin import TopicMismatch, topic_limits
from workers.runtime.checkpoint import PRODUCER_MAX_BYTES
from workers.runtime.fleet_config import record_config
from workers.runtime.health import serve
from workers.runtime.memory import freeze_start_up
from workers.runtime.worker import Worker
from workers.security.errors import check_access, explain

ACCESS_CHECK_S = 5.0  # how long the start waits for the broker to accept or refuse the credentials


class WorkerError(RuntimeError):
    """A condition the worker cannot continue from (missing or mismatched topics)."""


class WorkerProcess:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.ctx = worker.ctx
        self._stopping = False

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the process exit code."""
        ctx, readiness = self.ctx, self.ctx.readiness
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        rt = ctx.settings.runtime
        server = serve(ctx.status, rt.http_port, rt.http_host)
        ctx.log.info(
            "worker_starting",
            lifecycle="init",
            http_port=server.server_address[1],
            avro_codec=codec_path(ctx.serde.compiled),
        )
        try:
            self._start()
            freeze_start_up()
            readiness.set_lifecycle("running")
            ctx.log.info("worker_running", lifecycle="running", inputs=list(ctx.spec.inputs))
            while not self._stopping:
                self.worker.poll_once()
            self.worker.commit()
            readiness.set_lifecycle("drained")
            ctx.log.info("worker_drained", lifecycle="drained")
            return 0
        except StoreCorruption as exc:
            # A corrupt or lost store is rebuilt from the inputs (runtime/rebuild.py); what reaches
            # here could not be (inputs gone, or the rebuild disagrees with the changelog): stay up,
            # degraded and not ready, saying exactly that, until stopped (runbook RegimeFleetStoreRebuild).
            readiness.degrade("store_unrecoverable", f"{exc} (docs/runbooks/RegimeFleetStoreRebuild.md)")
            self._idle_until_stopped()
            return 1
        except (WorkerError, TopicMismatch) as exc:
            readiness.degrade("worker_failed", str(exc))
            return 1
        finally:
            self.close()
            if self.worker.slot is not None:  # a standby takes over while /status shuts down
                clients.release_slot(ctx.settings, ctx.name, self.worker.slot)
            readiness.set_lifecycle("stopped")
            ctx.log.info("worker_stopped", lifecycle="stopped")
            server.shutdown()

    def stop(self) -> None:
        self._stopping = True

    def _idle_until_stopped(self, step_s: float = 0.2) -> None:
        while not self._stopping:
            self.ctx.status.last_poll_monotonic = time.monotonic()
            time.sleep(step_s)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.ctx.log.info(
            "signal_received", signal=signal.Signals(signum).name, lifecycle=self.ctx.status.lifecycle
        )
        if not self._stopping:
            # The drain (batch, checkpoint, close) must finish inside the deadline.
            deadline = self.ctx.settings.runtime.shutdown_deadline_s
            watchdog = threading.Timer(deadline, self._drain_overdue, args=(deadline,))
            watchdog.daemon = True
            watchdog.start()
        self._stopping = True

    def _drain_overdue(self, deadline: float) -> None:
        self.ctx.log.error(
            "drain_deadline_exceeded", deadline_s=deadline, lifecycle=self.ctx.status.lifecycle
        )
        os._exit(3)

    def _start(self) -> None:
        """Check topics, record the configuration, then connect: until the producer is ready
        (a broker down, a predecessor to fence) the worker waits, not ready, saying why."""
        ctx, worker = self.ctx, self.worker
        spec = ctx.spec
        names = {*spec.inputs, *spec.outputs, *spec.reads, *spec.stores.values()}
        while not self._stopping and not self._admitted(sorted(names)):
            ctx.status.last_poll_monotonic = time.monotonic()
            time.sleep(2.0)
        record_config(ctx.settings, ctx.name, ctx.log)
        if worker.slot is None:  # a pinned slot: wait for it, everything above done already
            self._stand_by(ctx.settings.runtime.slot or 0)
            if self._stopping:
                return
        while not self._stopping and not worker.connect():
            ctx.status.last_poll_monotonic = time.monotonic()
            time.sleep(1.0)
        worker.subscribe()

    def _stand_by(self, slot: int, step_s: float = 0.05) -> None:
        """A warm standby (runtime.slot): imported, configured and serving /status, not ready,
        until the process holding its slot is gone; then it takes over at once (the same
        transactional.id fences the predecessor, the same group.instance.id gets its
        partitions back without a rebalance)."""
        ctx, name = self.ctx, self.ctx.name
        if clients.take_slot(ctx.settings, name, slot):
            self.worker.slot = slot
            return
        holder = clients.slot_holder(ctx.settings, name, slot)
        ctx.readiness.set_lifecycle("standby")
        ctx.readiness.block("standby", f"warm standby for slot {slot}, held by pid {holder or '?'}")
        ctx.log.info("standby_waiting", lifecycle="standby", slot=slot, holder=holder)
        waited = time.monotonic()
        while not self._stopping:
            ctx.status.last_poll_monotonic = time.monotonic()
            if clients.take_slot(ctx.settings, name, slot):
                self.worker.slot = slot
                ctx.readiness.unblock("standby")
                ctx.readiness.set_lifecycle("init")
                ctx.log.info("standby_promoted", slot=slot, waited_s=round(time.monotonic() - waited, 1))
                return
            time.sleep(step_s)

    def _admitted(self, names: list[str]) -> bool:
        """The broker accepts the credentials and lets this worker see its topics (their limits
        read); a refusal (password, certificate, ACL) degrades the worker until it is mended."""
        ctx = self.ctx
        refused = check_access(clients.base_config(ctx.settings), ACCESS_CHECK_S)
        if refused is None:
            try:
                self.worker.checkpoint.limits.update(topic_limits(ctx.settings, names, PRODUCER_MAX_BYTES))
            except KafkaException as exc:
                refused = explain(exc.args[0] if exc.args else str(exc))
                if refused is None:
                    raise
        if refused is not None:
            ctx.readiness.refused(refused)
            return False
        ctx.readiness.admitted()
        return True

    def close(self) -> None:
        worker = self.worker
        if worker.consumer is not None:
            try:
                worker.consumer.close()  # revokes: the revoke callback checkpoints and closes stores
            except Exception as exc:
                self.ctx.log.warning("consumer_close_failed", error=str(exc))
            worker.consumer = None
        worker.stores.close()
        producer = worker.checkpoint.producer
        if producer is not None:
            producer.flush(min(10.0, self.ctx.settings.runtime.kafka_call_timeout_s))
        worker.pauses.close()
        worker.control.close()
        worker.heartbeat.close()
        worker.on_close()
