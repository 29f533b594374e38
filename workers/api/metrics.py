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
