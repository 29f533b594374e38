"""The api's metrics, on the same registry as every worker's (docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from workers.runtime.observability import WorkerMetrics


class ApiMetrics:
    def __init__(self, worker: WorkerMetrics | None = None) -> None:
        self.worker = worker or WorkerMetrics()
        r = self.worker.registry
        self.requests = Counter(
            "regime_fleet_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "regime_fleet_http_request_seconds",
            "Time to the response headers, by route template.",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.sse_clients = Gauge("regime_fleet_sse_clients", "Connected SSE clients.", [], registry=r)
        self.sse_disconnects = Counter(
            "regime_fleet_sse_disconnects", "SSE streams ended, by reason.", ["reason"], registry=r
        )
        self.admission_rejections = Counter(
            "regime_fleet_admission_rejections",
            "Admissions refused, by reason (backpressure, invalid, unauthorized, too_large, unavailable).",
            ["reason"],
            registry=r,
        )
        self.admission_share = Gauge(
            "regime_fleet_admission_share",
            "Each client's share of the events admitted over api.admission_window_s.",
            ["client"],
            registry=r,
        )
        self.admission_throttled = Counter(
            "regime_fleet_admission_throttled",
            "Admissions a client was refused by fair admission, by reason (quota, share, backpressure).",
            ["client", "reason"],
            registry=r,
        )
        self.deadlines_met_ratio = Gauge(
            "regime_fleet_deadlines_met_ratio",
            "Of a client's requests with an X-Request-Deadline-Ms header, the part answered 2xx in time.",
            ["client"],
            registry=r,
        )
