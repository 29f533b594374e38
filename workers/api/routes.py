"""The HTTP surface (docs/api.md). Handlers are thin: they parse, check access, and call
admission, the table, the hub or the lookups held by `ApiState`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sse_starlette import EventSourceResponse

from workers.replay import provenance
from workers.runtime.reader import TopicError

from . import admission, bodies, dag
from .capabilities import capabilities
from .errors import ApiError, correlation
from .settings import ApiSettings
from .streams import (
    STREAMS,
    BadEventId,
    Client,
    Filter,
    decode_id,
    disconnect_frame,
    history_frames,
    served,
)
from .tail import read_range

if TYPE_CHECKING:
    from .app import ApiState

router = APIRouter()
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
OPEN_OR_BEARER: list[dict[str, list[str]]] = [{}, {"bearer": []}]
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": bodies.Error} for s in (400, 401, 404, 413, 422, 429, 503)
}
EVENT_BODY = {
    "description": "A RawMarketEvent in its canonical JSON form (docs/contracts.md).",
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RawMarketEvent"}}},
}
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `id` (resumable), `event` (an OrchestratorEvent's "
        "event_type, or `EnrichedSignalEvent`), `data` (the record as canonical JSON with its "
        "partition and offset); `: ping` heartbeats; a final `event: disconnect` with the reason "
        "when the server ends the stream.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def api_state(request: Request) -> ApiState:
    svc: ApiState = request.app.state.api
    return svc


def _allow(request: Request, *, write: bool) -> None:
    svc = api_state(request)
    if not write and not ApiSettings.of(svc.settings).protect_reads:
        return
    if not svc.tokens.allows(request.headers.get("authorization")):
        if write:
            svc.metrics.admission_rejections.labels("unauthorized").inc()
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


# -- health -----------------------------------------------------------------------------


@router.get("/healthz", response_class=PlainTextResponse, tags=["health"])
def healthz(request: Request) -> PlainTextResponse:
    ok = api_state(request).healthy()
    return PlainTextResponse("ok\n" if ok else "a background thread died\n", status_code=200 if ok else 503)


@router.get("/readyz", response_class=PlainTextResponse, tags=["health"])
def readyz(request: Request) -> PlainTextResponse:
    svc = api_state(request)
    return PlainTextResponse(f"{svc.status.lifecycle}\n", status_code=200 if svc.ready() else 503)


@router.get("/metrics", response_class=PlainTextResponse, tags=["health"])
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(api_state(request).metrics.worker.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/status", response_model=bodies.Status, tags=["health"])
def status(request: Request) -> dict[str, Any]:
    return api_state(request).as_status()


# -- capabilities and topology ------------------------------------------------------------


@router.get(
    "/v1/capabilities",
    response_model=bodies.Capabilities,
    responses=ERRORS,
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_capabilities(request: Request) -> dict[str, Any]:
    _allow(request, write=False)
    svc = api_state(request)
    return capabilities(svc.settings, svc.topology)


@router.get(
    "/v1/topology",
    response_model=bodies.Topology,
    responses={**ERRORS, 200: {"content": {"text/vnd.mermaid": {"schema": {"type": "string"}}}}},
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_topology(request: Request, format: Annotated[str, Query(pattern="^(json|mermaid)$")] = "json") -> Any:
    _allow(request, write=False)
    topology = api_state(request).topology
    if format == "mermaid":
        return PlainTextResponse(dag.as_mermaid(topology), media_type="text/vnd.mermaid")
    return dag.as_json(topology)


# -- admission ----------------------------------------------------------------------------


async def _body(request: Request) -> tuple[str, Any]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        return text, json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        api_state(request).metrics.admission_rejections.labels("invalid").inc()
        raise ApiError(
            400, "INVALID_JSON", f"the body is not JSON: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


async def _admit(request: Request, items: list[tuple[str, Any]]) -> list[admission.Admitted]:
    svc = api_state(request)
    lag = svc.lag
    if lag.rejecting:
        svc.metrics.admission_rejections.labels("backpressure").inc()
        retry = ApiSettings.of(svc.settings).retry_after_s
        raise ApiError(
            429,
            "BACKPRESSURE",
            f"ingest lags {lag.lag} records on market.raw (limit {lag.limit}); retry after {retry} s",
            headers={"Retry-After": str(retry)},
            retry_after_s=retry,
            lag=lag.lag,
            limit=lag.limit,
        )
    try:
        prepared = admission.prepare(items, svc.settings, svc.serde)
    except admission.Invalid as exc:
        svc.metrics.admission_rejections.labels("invalid").inc()
        raise ApiError(
            422,
            "INVALID_EVENT",
            f"{len(exc.problems)} of {len(items)} event(s) refused; nothing was produced",
            problems=[p.as_dict() for p in exc.problems],
        ) from None
    try:
        return await svc.admission.admit(prepared, correlation(request))
    except admission.Unavailable as exc:
        svc.metrics.admission_rejections.labels("unavailable").inc()
        raise ApiError(503, "UNAVAILABLE", str(exc), headers={"Retry-After": "1"}, retry_after_s=1) from None


@router.post(
    "/v1/events",
    status_code=202,
    response_model=bodies.Admitted,
    responses={**ERRORS, 200: {"model": bodies.Admitted, "description": "Already accepted (duplicate)."}},
    openapi_extra={"requestBody": EVENT_BODY, "security": BEARER},
)
async def post_event(request: Request) -> JSONResponse:
    _allow(request, write=True)
    text, value = await _body(request)
    if not isinstance(value, dict):
        raise ApiError(422, "INVALID_EVENT", "the body must be one JSON object (a RawMarketEvent)")
    (result,) = await _admit(request, [(text, value)])
    body = {**result.as_dict(), "correlation_id": correlation(request)}
    return JSONResponse(body, status_code=200 if result.duplicate else 202)


@router.post(
    "/v1/events/batch",
    status_code=202,
    response_model=bodies.BatchAdmitted,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "description": "A JSON array of RawMarketEvents; all or nothing: one invalid event refuses the batch.",
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/RawMarketEvent"}}
                }
            },
        },
        "security": BEARER,
    },
)
async def post_batch(request: Request) -> JSONResponse:
    _allow(request, write=True)
    _text, values = await _body(request)
    limit = ApiSettings.of(api_state(request).settings).max_batch_events
    if not isinstance(values, list) or not values:
        raise ApiError(422, "INVALID_EVENT", "the body must be a non-empty JSON array of RawMarketEvents")
    if len(values) > limit:
        raise ApiError(
            413, "BATCH_TOO_LARGE", f"{len(values)} events; at most {limit} (api.max_batch_events)"
        )
    results = await _admit(request, [(json.dumps(v), v) for v in values])
    corr = correlation(request)
    duplicates = sum(r.duplicate for r in results)
    body = {
        "accepted": len(results) - duplicates,
        "duplicates": duplicates,
        "correlation_id": corr,
        "results": [{**r.as_dict(), "correlation_id": corr} for r in results],
    }
    return JSONResponse(body, status_code=202)


# -- lookups ------------------------------------------------------------------------------


@router.get(
    "/v1/symbols/{symbol}/regime",
    response_model=bodies.RegimeView,
    responses=ERRORS,
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_regime(request: Request, symbol: str) -> dict[str, Any]:
    _allow(request, write=False)
    table = api_state(request).table
    decision = table.get(symbol)
    if decision is None:
        if table.known(symbol):
            raise ApiError(404, "NO_DECISION", f"{symbol!r} has runs but no decision yet (only failed runs)")
        raise ApiError(404, "UNKNOWN_SYMBOL", f"no regime event for symbol {symbol!r} on regime.events")
    return decision.as_dict()


@router.get(
    "/v1/symbols/{symbol}/signal",
    response_model=None,
    responses={
        **ERRORS,
        200: {
            "description": "The symbol's latest EnrichedSignalEvent (by signal time) with its partition and offset.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnrichedSignalView"}}},
        },
    },
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_signal(request: Request, symbol: str) -> dict[str, Any]:
    _allow(request, write=False)
    latest = api_state(request).signals.get(symbol)
    if latest is None:
        raise ApiError(404, "NO_SIGNAL", f"no enriched signal for symbol {symbol!r} on signals.enriched")
    return latest.as_dict()


async def _lookup(request: Request, call: Any, *args: Any) -> Any:
    svc = api_state(request)
    timeout = ApiSettings.of(svc.settings).lookup_timeout_s
    try:
        async with svc.lookups:
            return await asyncio.wait_for(asyncio.to_thread(call, svc.settings, *args), timeout)
    except TimeoutError:
        raise ApiError(
            503, "LOOKUP_TIMEOUT", f"the lookup took longer than {timeout} s", headers={"Retry-After": "5"}
        ) from None


@router.get(
    "/v1/runs/{run_id}",
    response_model=bodies.RunView,
    responses=ERRORS,
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def get_run(request: Request, run_id: str) -> Any:
    """What `regime-fleet provenance show RUN_ID` prints: the run, its cut's inputs with the
    recomputed input hash, and its links on the hash chain."""
    _allow(request, write=False)
    try:
        return await _lookup(request, provenance.show, run_id)
    except TopicError as exc:
        if str(exc).startswith("no run"):
            raise ApiError(404, "UNKNOWN_RUN", str(exc)) from None
        raise ApiError(503, "UNAVAILABLE", str(exc)) from None


@router.get(
    "/v1/provenance/verify",
    response_model=bodies.Verification,
    responses=ERRORS,
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def verify(request: Request, symbol: Annotated[str | None, Query(min_length=1)] = None) -> Any:
    """What `regime-fleet provenance verify [--symbol]` says: the first broken link, if any."""
    _allow(request, write=False)
    if symbol is not None and not api_state(request).table.known(symbol):
        raise ApiError(404, "UNKNOWN_SYMBOL", f"no regime event for symbol {symbol!r} on regime.events")
    try:
        return await _lookup(request, provenance.verify, "regime.events", symbol)
    except TopicError as exc:
        raise ApiError(503, "UNAVAILABLE", str(exc)) from None


# -- streams ------------------------------------------------------------------------------

EventTypes = Annotated[
    list[str] | None,
    Query(description=f"Any of {', '.join(t for s in STREAMS for t in s.event_types)} (default: all)."),
]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", description="Resume after this id.")]
# Browsers' EventSource sends the header only when it reconnects: the first resume goes here.
AfterId = Annotated[
    str | None,
    Query(
        description="Like Last-Event-ID (the header wins); `0:-1,1:-1,...,e0:-1,e1:-1,...`: from the "
        "oldest kept record (topics left out start at the head)."
    ),
]


@router.get(
    "/v1/stream",
    response_class=EventSourceResponse,
    responses={**ERRORS, **SSE_RESPONSE},
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def stream(
    request: Request,
    symbol: Annotated[list[str] | None, Query(description="Only these symbols.")] = None,
    event_type: EventTypes = None,
    last_event_id: AfterId = None,
    last_event_id_header: LastEventId = None,
) -> EventSourceResponse:
    """Live regime events and enriched signals of every symbol (or the given ones)."""
    return await _stream(request, symbol or [], event_type or [], last_event_id_header or last_event_id)


@router.get(
    "/v1/symbols/{symbol}/events",
    response_class=EventSourceResponse,
    responses={**ERRORS, **SSE_RESPONSE},
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def symbol_events(
    request: Request,
    symbol: str,
    event_type: EventTypes = None,
    last_event_id: AfterId = None,
    last_event_id_header: LastEventId = None,
) -> EventSourceResponse:
    """Live regime events and enriched signals of one symbol (it need not have any yet)."""
    return await _stream(request, [symbol], event_type or [], last_event_id_header or last_event_id)


async def _stream(
    request: Request, symbols: list[str], event_types: list[str], last_event_id: str | None
) -> EventSourceResponse:
    _allow(request, write=False)
    svc = api_state(request)
    known = [t for s in served(svc.partitions) for t in s.event_types]
    unknown = sorted(set(event_types) - set(known))
    if unknown:
        raise ApiError(422, "UNKNOWN_EVENT_TYPE", f"event_type {unknown}: use {', '.join(known)}")
    if len(svc.hub.clients) >= ApiSettings.of(svc.settings).max_sse_clients:
        raise ApiError(
            503, "TOO_MANY_STREAMS", "the api serves its maximum of SSE clients", headers={"Retry-After": "5"}
        )
    try:
        after = decode_id(last_event_id, svc.hub.head) if last_event_id else None
    except BadEventId as exc:
        raise ApiError(400, "BAD_LAST_EVENT_ID", str(exc)) from None
    flt = Filter(frozenset(symbols), frozenset(event_types))
    joined = svc.hub.register(flt, after)
    client, history = joined.client, joined.history
    # Only what the filter can match: a skipped slot's position stays where the client was.
    unread = {slot: joined.start[slot] for slot in joined.unread if flt.wants(slot[0])}
    if unread:
        timeout = ApiSettings.of(svc.settings).lookup_timeout_s
        try:
            history = history + await asyncio.wait_for(
                asyncio.to_thread(read_range, svc.settings, svc.serde, unread, joined.head, timeout),
                timeout,
            )
        except Exception as exc:
            svc.hub.unregister(client)
            raise ApiError(503, "UNAVAILABLE", f"cannot read the history to resume from: {exc}") from None
    frames = history_frames(joined.start, history, flt)
    svc.metrics.sse_clients.inc()
    peer_closed = {"value": False}

    async def closed(_message: Any) -> None:
        peer_closed["value"] = True

    return EventSourceResponse(
        _events(svc, client, frames, correlation(request), peer_closed),
        ping=ApiSettings.of(svc.settings).sse_heartbeat_s,
        send_timeout=ApiSettings.of(svc.settings).sse_send_timeout_s,
        client_close_handler_callable=closed,
    )


async def _events(
    svc: ApiState, client: Client, history: list[bytes], corr: str, peer_closed: dict[str, bool]
) -> AsyncIterator[bytes]:
    reason = ""
    try:
        yield f": correlation_id={corr}\nretry: 2000\n\n".encode()
        for start in range(0, len(history), 200):
            yield b"".join(history[start : start + 200])
        while True:
            client.wake.clear()
            if client.queue:
                items = list(client.queue)
                client.queue.clear()
                yield b"".join(items)
                continue
            if client.reason:
                reason = client.reason
                yield disconnect_frame(reason, _why(reason, svc))
                return
            await client.wake.wait()
    finally:
        svc.hub.unregister(client)
        reason = reason or client.reason or ("client_closed" if peer_closed["value"] else "write_failed")
        svc.metrics.sse_clients.dec()
        svc.metrics.sse_disconnects.labels(reason).inc()
        svc.log.info("sse_closed", reason=reason, correlation_id=corr)


def _why(reason: str, svc: ApiState) -> str:
    if reason == "slow":
        return f"more than {ApiSettings.of(svc.settings).sse_queue_size} events waited for this client (api.sse_queue_size)"
    return "the api is shutting down; reconnect with Last-Event-ID"
