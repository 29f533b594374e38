"""Lifecycle and the /healthz, /readyz, /metrics, /status endpoints of one worker process."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workers.runtime.observability import LIFECYCLE_STATES, WorkerMetrics


@dataclass
class WorkerStatus:
    """What the worker reports about itself; written by the poll loop, read by HTTP threads."""

    worker: str
    group: str
    metrics: WorkerMetrics
    lifecycle: str = "init"
    assignment: list[str] = field(default_factory=list)
    last_poll_monotonic: float = field(default_factory=time.monotonic)
    last_error: str = ""
    pause_reasons: dict[str, str] = field(default_factory=dict)  # failures: not ready
    backpressure: str = ""  # paused for a slow downstream: still ready
    partitions: dict[str, dict[str, int]] = field(default_factory=dict)  # position and lag
    stale_after_s: float = 60.0
    control: dict[str, Any] = field(default_factory=dict)  # operator commands in effect (control.py)

    def set_lifecycle(self, state: str) -> None:
        self.lifecycle = state
        for s in LIFECYCLE_STATES:
            self.metrics.lifecycle.labels(self.worker, s).set(1 if s == state else 0)

    def healthy(self) -> bool:
        return time.monotonic() - self.last_poll_monotonic < self.stale_after_s

    def ready(self) -> bool:
        return self.lifecycle == "running" and not self.pause_reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "group": self.group,
            "lifecycle": self.lifecycle,
            "assignment": self.assignment,
            "last_poll_age_s": round(time.monotonic() - self.last_poll_monotonic, 3),
            "pause_reasons": self.pause_reasons,
            "backpressure": self.backpressure,
            "partitions": self.partitions,
            "last_error": self.last_error,
            "control": self.control,
            "healthy": self.healthy(),
            "ready": self.ready(),
        }


def serve(status: WorkerStatus, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start the endpoints on host:port (0 = any free port) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok = status.healthy()
                self._send(200 if ok else 503, b"ok\n" if ok else b"poll loop stuck\n", "text/plain")
            elif self.path in ("/readyz", "/readyz?standby=ok"):
                # ?standby=ok: a warm standby counts as ready on its pair's behalf (the chart's
                # probe of a pod with a standby container).
                ok = status.ready() or (self.path.endswith("ok") and status.lifecycle == "standby")
                self._send(200 if ok else 503, f"{status.lifecycle}\n".encode(), "text/plain")
            elif self.path == "/metrics":
                self._send(200, generate_latest(status.metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/status":
                self._send(200, json.dumps(status.as_dict()).encode(), "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    # serve_forever notices a shutdown() at its next poll: 0.5 s by default, on every clean stop.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="health", daemon=True).start()
    return server
