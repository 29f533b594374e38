"""structlog JSON logs and the Prometheus metrics every worker exports."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

LIFECYCLE_STATES = ("init", "standby", "running", "drained", "stopped", "degraded")


def configure_logging(level: str = "INFO") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)


class WorkerMetrics:
    """The `regime_fleet_` metrics of one worker process (documented in docs/metrics.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: noise
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "regime_fleet_records_consumed", "Records consumed.", ["worker", "topic"], registry=r
        )
        self.produced = Counter(
            "regime_fleet_records_produced", "Records produced.", ["worker", "topic"], registry=r
        )
        self.dead_letters = Counter(
            "regime_fleet_dlq_records", "Records dead-lettered.", ["worker", "error_code"], registry=r
        )
        self.duplicates = Counter(
            "regime_fleet_duplicates_dropped", "Duplicates dropped.", ["worker"], registry=r
        )
        self.batch_size = Histogram(
            "regime_fleet_batch_size",
            "Records per consumed batch.",
            ["worker"],
            registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 5000),
        )
        self.batch_seconds = Histogram(
            "regime_fleet_batch_processing_seconds",
            "Processing time per batch.",
            ["worker"],
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "regime_fleet_checkpoint_seconds",
            "Checkpoint time (steps 2-5).",
            ["worker"],
            registry=r,
        )
        self.checkpoint_aborts = Counter(
            "regime_fleet_checkpoint_aborts", "Aborted checkpoints.", ["worker"], registry=r
        )
        self.client_resets = Counter(
            "regime_fleet_client_resets",
            "Kafka clients recreated after a call overran its bound.",
            ["worker"],
            registry=r,
        )
        self.lag = Gauge(
            "regime_fleet_consumer_lag",
            "Records not yet processed, per input partition.",
            ["worker", "topic", "partition"],
            registry=r,
        )
        self.runs = Counter(
            "regime_fleet_engine_runs", "Engine runs by final status.", ["status"], registry=r
        )
        self.run_seconds = Histogram("regime_fleet_engine_run_seconds", "Engine run time.", [], registry=r)
        self.switches = Counter(
            "regime_fleet_hysteresis_switches", "Confirmed regime switches.", [], registry=r
        )
        self.restore_seconds = Histogram(
            "regime_fleet_state_restore_seconds",
            "Store restore time.",
            ["worker", "store"],
            registry=r,
        )
        self.restore_records = Counter(
            "regime_fleet_state_restore_records",
            "Changelog records restored.",
            ["worker", "store"],
            registry=r,
        )
        self.published = Counter(
            "regime_fleet_published_events", "Events published by type.", ["event_type"], registry=r
        )
        self.e2e_latency = Histogram(
            "regime_fleet_end_to_end_latency_seconds",
            "Event time (engine_timestamp_ms) to publish.",
            [],
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.backpressure_pauses = Counter(
            "regime_fleet_backpressure_pauses",
            "Pauses for a lagging downstream group.",
            ["worker"],
            registry=r,
        )
        self.retries = Counter("regime_fleet_retries", "Retries by failure domain.", ["domain"], registry=r)
        self.enrichment_seconds = Histogram(
            "regime_fleet_enrichment_seconds",
            "Enrichment time per signal, by stage (features, predict, total).",
            ["worker", "stage"],
            registry=r,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
        self.signals_enriched = Counter(
            "regime_fleet_signals_enriched", "Signals enriched.", ["worker"], registry=r
        )
        self.signals_rejected = Counter(
            "regime_fleet_signals_rejected",
            "Signals dead-lettered by the enricher.",
            ["worker", "error_code"],
            registry=r,
        )
        self.model_info = Gauge(
            "regime_fleet_model_info",
            "1 for the model version active in a partition (0 once replaced).",
            ["worker", "partition", "model_version"],
            registry=r,
        )
        self.model_age = Gauge(
            "regime_fleet_model_age_seconds",
            "Wall-clock age of the partition's active model (since trained_ts_ms), every 5 s.",
            ["worker", "partition"],
            registry=r,
        )
        self.model_swaps = Counter("regime_fleet_model_swaps", "Models swapped in.", ["worker"], registry=r)
        self.model_rejections = Counter(
            "regime_fleet_model_rejections", "Model records rejected.", ["worker", "reason"], registry=r
        )
        self.outcomes = Counter(
            "regime_fleet_outcomes",
            "Signal outcomes resolved, by barrier.",
            ["worker", "barrier"],
            registry=r,
        )
        self.live_accuracy = Gauge(
            "regime_fleet_live_accuracy",
            "Rolling live accuracy of a model version's resolved signals (labeler.window).",
            ["worker", "model_version", "partition"],
            registry=r,
        )
        self.live_ece = Gauge(
            "regime_fleet_live_ece",
            "Live expected calibration error of a model version (champion: labeler.window outcomes; "
            "challenger: labeler.shadow_window paired outcomes), once it has labeler.min_samples.",
            ["worker", "model_version", "partition"],
            registry=r,
        )
        self.live_brier = Gauge(
            "regime_fleet_live_brier",
            "Live Brier score of a model version over the same window as regime_fleet_live_ece.",
            ["worker", "model_version", "partition"],
            registry=r,
        )
        self.live_auc = Gauge(
            "regime_fleet_live_auc",
            "Live AUC of a model version over the same window (absent while it holds one class).",
            ["worker", "model_version", "partition"],
            registry=r,
        )
        self.shadow_scores = Counter(
            "regime_fleet_shadow_scores", "Signals a challenger scored in shadow.", ["worker"], registry=r
        )
        self.retrain_triggers = Counter(
            "regime_fleet_retrain_triggers",
            "Retrain triggers sent, by reason.",
            ["worker", "reason"],
            registry=r,
        )
        self.lifecycle = Gauge(
            "regime_fleet_lifecycle_state",
            "1 for the current lifecycle state.",
            ["worker", "state"],
            registry=r,
        )

    def by_name(self, name: str) -> Any:
        """The metric called `regime_fleet_<name>`."""
        for metric in vars(self).values():
            if getattr(metric, "_name", None) == f"regime_fleet_{name}":
                return metric
        raise KeyError(f"no metric regime_fleet_{name} (docs/metrics.md lists them)")


class Recorder:
    """The processing.Metrics a live core records into: names from docs/metrics.md without the
    `regime_fleet_` prefix; the `worker` label is filled in where the metric has one."""

    def __init__(self, metrics: WorkerMetrics, worker: str) -> None:
        self.metrics = metrics
        self.worker = worker
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def _child(self, name: str, labels: dict[str, str]) -> Any:
        key = (name, tuple(sorted(labels.items())))
        child = self._children.get(key)
        if child is None:
            metric = self.metrics.by_name(name)
            if "worker" in metric._labelnames:
                labels = {"worker": self.worker, **labels}
            child = metric.labels(**labels) if labels else metric
            self._children[key] = child
        return child

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._child(name, labels).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._child(name, labels).observe(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._child(name, labels).set(value)

    def timer(self, name: str, **labels: str) -> contextlib.AbstractContextManager[None]:
        return _Timer(self._child(name, labels))


class _Timer:
    """Times a block into a histogram child: a plain class, since a generator-based context
    manager cost as much as the work it timed (three timers per enriched signal)."""

    __slots__ = ("child", "started")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.child.observe(time.perf_counter() - self.started)
