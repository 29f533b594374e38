"""Every error answer has one shape (models.Error) and carries the request's correlation id;
none names a token, a secret or why a token was refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes (api.max_body_bytes)")
        self.limit = limit


def correlation(request: Request) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


def render(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": code, "message": message, "correlation_id": correlation(request), "problems": []}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return render(request, exc.status, exc.code, exc.message, exc.headers, **exc.extra)


async def on_too_large(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.api.metrics.admission_rejections.labels("too_large").inc()
    return render(request, 413, "BODY_TOO_LARGE", str(exc))


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own parameter checks (path, query, headers), in our shape."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())),
            "code": str(e.get("type", "invalid")).upper(),
            "message": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    return render(request, 422, "INVALID_REQUEST", "the request's parameters are invalid", problems=problems)


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    return render(
        request, exc.status_code, codes.get(exc.status_code, "HTTP_ERROR"), str(exc.detail), exc.headers
    )


HANDLERS: dict[int | type[Exception], Any] = {
    ApiError: on_api_error,
    BodyTooLarge: on_too_large,
    RequestValidationError: on_validation,
    HTTPException: on_http,
}
