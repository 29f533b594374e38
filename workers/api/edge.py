"""The outer layer of every request (pure ASGI, so SSE streams pass through untouched):
correlation id accepted or created, echoed and bound to every log line; the body size bound;
request metrics by route template; one access log line."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLarge
from .metrics import ApiMetrics

VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Streamed bodies, bounded line by line instead (workers/api/asof_bulk.py MAX_LINE_BYTES).
STREAMED_BODIES = frozenset({"/v1/asof"})


def correlation_id(given: str | None) -> str:
    """The client's id when it is a sane token, else a new one (never an echo of junk)."""
    if given and VALID_ID.fullmatch(given):
        return given
    return "api-" + uuid.uuid4().hex[:24]


DEADLINE_HEADER = b"x-request-deadline-ms"
MAX_DEADLINE_MS = 86_400_000


def deadline_ms(value: bytes | None) -> int | None:
    """The request's deadline in ms from its arrival; None without one; ValueError when bad."""
    if value is None:
        return None
    ms = int(value.decode("latin-1").strip())  # ValueError when not an integer
    if not 0 < ms <= MAX_DEADLINE_MS:
        raise ValueError(ms)
    return ms


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        metrics: ApiMetrics,
        max_body_bytes: int,
        log: Any,
        on_deadline: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.log = log
        self.on_deadline = on_deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        corr = correlation_id(headers.get(b"x-correlation-id", b"").decode("latin-1"))
        scope.setdefault("state", {})["correlation_id"] = corr
        started = time.perf_counter()
        status = {"code": 500}
        answered = {"s": 0.0}
        limit = self.max_body_bytes if scope["path"] not in STREAMED_BODIES else 1 << 62
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                answered["s"] = time.perf_counter() - started
                message["headers"] = [*message.get("headers", []), (b"x-correlation-id", corr.encode())]
                route = _route(scope)
                self.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=corr):
            try:
                declared = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                declared = 0
            try:
                deadline = deadline_ms(headers.get(DEADLINE_HEADER))
            except ValueError:
                deadline = None
                await _refuse(
                    send_with_id,
                    400,
                    "INVALID_DEADLINE",
                    f"X-Request-Deadline-Ms must be an integer in 1..{MAX_DEADLINE_MS} (ms from arrival)",
                    corr,
                )
            else:
                if declared > limit:
                    await _too_large(scope, send_with_id, limit, corr)
                    self.metrics.admission_rejections.labels("too_large").inc()
                else:
                    await self.app(scope, bounded_receive, send_with_id)
                if deadline is not None and self.on_deadline is not None:
                    met = 200 <= status["code"] < 300 and answered["s"] * 1000 <= deadline
                    self.on_deadline(str(scope["state"].get("client", "anonymous")), met)
            route = _route(scope)
            self.metrics.requests.labels(route, scope["method"], str(status["code"])).inc()
            self.log.info(
                "http_request",
                method=scope["method"],
                route=route,
                status=status["code"],
                seconds=round(time.perf_counter() - started, 4),
            )


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


async def _too_large(scope: Scope, send: Send, limit: int, corr: str) -> None:
    message = f"the request body is larger than {limit} bytes (api.max_body_bytes)"
    await _refuse(send, 413, "BODY_TOO_LARGE", message, corr)


async def _refuse(send: Send, status: int, code: str, message: str, corr: str) -> None:
    import json

    body = json.dumps({"error": code, "message": message, "correlation_id": corr, "problems": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
