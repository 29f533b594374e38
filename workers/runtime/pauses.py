"""When a worker stops consuming a partition, and why: checkpoints that keep failing (retry
policy of the failing domain), partitions still opening (committed offsets, store restore),
and the whole assignment while a downstream group lags (backpressure, from the topology).
Also the per-partition lag report.

Failure pauses make the worker not ready and are retried with the domain's backoff; a worker
whose topology says `degrade_on_failure` also turns degraded. Backpressure keeps it ready.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from workers.config import FleetSettings
from workers.runtime.backpressure import BackpressureGauge, Downstream
from workers.runtime.context import RuntimeContext
from workers.topology import WorkerSpec, setting


def downstream_of(settings: FleetSettings, spec: WorkerSpec) -> Downstream | None:
    """The topology's backpressure target for this worker, or None when its limit is 0."""
    bp = spec.backpressure
    if bp is None or not setting(settings, bp.limit):
        return None
    high = int(setting(settings, bp.limit)) * bp.records_per_unit
    return Downstream(
        settings.group(bp.group), settings.topic(bp.topic), high, high // 2, f"{bp.group} lags on {bp.topic}"
    )


class PauseControl:
    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.spec = ctx.spec
        self.metrics = ctx.metrics
        self.log = ctx.log
        self.readiness = ctx.readiness
        self.downstream = downstream_of(ctx.settings, ctx.spec)
        self.gauge: BackpressureGauge | None = None
        self.failures: dict[int, int] = {}
        self.pauses: dict[int, int] = {}
        self.paused_until: dict[int, float] = {}
        self.opening: set[int] = set()  # assigned, not yet restored and positioned
        self.lag_due = 0.0

    def held(self) -> set[int]:
        """Partitions that stay paused whatever backpressure says."""
        return set(self.paused_until) | self.opening

    def failed(self, consumer: Consumer | None, partitions: set[int], domain: str, reason: str) -> None:
        """A checkpoint of these partitions could not commit (it was aborted)."""
        policy = self.settings.retry_policy(domain)
        for p in partitions:
            self.failures[p] = self.failures.get(p, 0) + 1
            self.metrics.retries.labels(domain).inc()
            if self.failures[p] < policy.max_attempts or consumer is None:
                continue
            self.pauses[p] = self.pauses.get(p, 0) + 1
            delay = policy.delay(self.pauses[p])
            consumer.pause(self._inputs(p))
            self.paused_until[p] = time.monotonic() + delay
            self.readiness.block(
                f"partition {p}",
                f"{domain}: checkpoint failed {self.failures[p]}x, retry in {delay:.1f} s: {reason}",
            )
            self.log.error("partition_paused", partition=p, reason=reason, domain=domain, retry_in_s=delay)
            if self.spec.degrade_on_failure and self.readiness.lifecycle == "running":
                self.readiness.set_lifecycle("degraded")
                self.log.error("worker_degraded", lifecycle="degraded", domain=domain)

    def succeeded(self, partitions: set[int]) -> None:
        for p in partitions:
            self.failures.pop(p, None)
            self.pauses.pop(p, None)
            if p not in self.paused_until:
                self.readiness.unblock(f"partition {p}")
        self.readiness.recover()

    def tick(self, consumer: Consumer) -> None:
        """Before each poll: retry due partitions, apply backpressure, refresh lag."""
        now = time.monotonic()
        for p, until in list(self.paused_until.items()):
            if now >= until:
                del self.paused_until[p]
                # One more failure pauses again, with the next (longer) delay.
                self.failures[p] = self.settings.retry_policy(self.spec.checkpoint_domain).max_attempts - 1
                if p not in self.opening:
                    consumer.resume(self._inputs(p))
                self.log.info("partition_resumed", partition=p)
        self._backpressure(consumer)
        if now >= self.lag_due:
            self.lag_due = now + 1.0
            self._report_lag(consumer)

    def forget(self, partitions: set[int]) -> None:
        """Partitions revoked or lost: their pauses go with them."""
        for p in partitions:
            self.failures.pop(p, None)
            self.pauses.pop(p, None)
            self.paused_until.pop(p, None)
            self.opening.discard(p)
            self.readiness.unblock(f"partition {p}")

    def close(self) -> None:
        if self.gauge is not None:
            self.gauge.close()
            self.gauge = None

    def _backpressure(self, consumer: Consumer) -> None:
        if self.downstream is None:
            return
        if self.gauge is None:
            self.gauge = BackpressureGauge(self.settings, self.downstream)
        change = self.gauge.check()
        if change is True:
            self.metrics.backpressure_pauses.labels(self.spec.name).inc()
            self.readiness.status.backpressure = (
                f"{self.downstream.reason}: lag {self.gauge.lag} > {self.downstream.high}"
            )
            self.log.info("backpressure_pause", lag=self.gauge.lag, bound=self.downstream.high)
        elif change is False:
            self.readiness.status.backpressure = ""
            held = self.held()
            consumer.resume([tp for tp in consumer.assignment() if tp.partition not in held])
            self.log.info("backpressure_resume", lag=self.gauge.lag, bound=self.downstream.low)
        if self.gauge.paused:
            consumer.pause(consumer.assignment())  # again after any rebalance

    def _report_lag(self, consumer: Consumer) -> None:
        """Records not yet processed per assigned partition: the high watermark minus the
        position, which the client moves past transaction markers, so an idle worker shows 0."""
        assigned = consumer.assignment()
        partitions = {}
        for tp in consumer.position(assigned) if assigned else []:
            _low, high = consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            lag = max(0, high - tp.offset) if tp.offset >= 0 and high >= 0 else 0
            topic = self.ctx.logical(tp.topic)
            self.metrics.lag.labels(self.spec.name, topic, str(tp.partition)).set(lag)
            partitions[f"{topic}[{tp.partition}]"] = {"position": tp.offset, "lag": lag}
        self.readiness.status.partitions = partitions

    def _inputs(self, partition: int) -> list[TopicPartition]:
        return [TopicPartition(self.settings.topic(t), partition) for t in self.spec.inputs]
