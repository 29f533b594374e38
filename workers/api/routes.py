"""The HTTP surface (docs/api.md). Handlers are thin: they parse, check access, and call
admission, the table, the hub or the lookups held by `ApiState`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sse_starlette import EventSourceResponse

from workers.replay import provenance
from workers.runtime.reader import TopicError

from . import admission, asof, asof_bulk, bodies, dag
from .capabilities import capabilities
from .errors import ApiError, correlation
from .fairness import ANONYMOUS
from .history import AsOfMiss
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
from .table import Decision
from .tail import read_range

if TYPE_CHECKING:
    from .app import ApiState

router = APIRouter()
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
OPEN_OR_BEARER: list[dict[str, list[str]]] = [{}, {"bearer": []}]
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": bodies.Error} for s in (400, 401, 404, 413, 415, 422, 429, 503)
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


def _allow(request: Request, *, write: bool) -> str:
    """The client the request comes from (its token's; `anonymous` for an open read), or 401."""
    svc = api_state(request)
    client = svc.tokens.client(request.headers.get("authorization"))
    if client is None and (write or ApiSettings.of(svc.settings).protect_reads):
        if write:
            svc.metrics.admission_rejections.labels("unauthorized").inc()
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.scope.setdefault("state", {})["client"] = client or ANONYMOUS
    return client or ANONYMOUS


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
    """What the fleet and the api can do; `client`: who the token says you are, and your quotas."""
    client = _allow(request, write=False)
    svc = api_state(request)
    return capabilities(svc.settings, svc.topology, client, svc.fair.state(client).quota)


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


def _fair(request: Request, client: str, events: int) -> None:
    """Weighted fair admission (workers/api/fairness.py): 429 with this client's own Retry-After."""
    svc = api_state(request)
    lag, fair = svc.lag, svc.fair
    if lag.measured_at and lag.measured_at != svc.lag_seen:
        svc.lag_seen = lag.measured_at
        fair.observe_lag(lag.lag, lag.limit, lag.measured_at)
    now = time.monotonic()
    verdict = fair.decide(client, events, now, rejecting=lag.rejecting)
    for name, share in fair.shares(now).items():
        svc.metrics.admission_share.labels(name).set(share)
    if verdict.admit:
        return
    svc.metrics.admission_throttled.labels(client, verdict.reason).inc()
    retry = max(verdict.retry_after_s, ApiSettings.of(svc.settings).retry_after_s)
    if verdict.reason == "backpressure":
        rejection, code = "backpressure", "BACKPRESSURE"
        why = f"ingest lags {lag.lag} records on market.raw (limit {lag.limit})"
    else:
        rejection, code = "throttled", "THROTTLED"
        why = (
            f"client {client!r} is over its quota of {fair.state(client).quota.events_per_s} events/s"
            if verdict.reason == "quota"
            else f"client {client!r} is over its weighted share ({verdict.fair_rate:.0f} events/s) while ingest lags"
        )
    svc.metrics.admission_rejections.labels(rejection).inc()
    raise ApiError(
        429,
        code,
        f"{why}; retry after {retry} s",
        headers={"Retry-After": str(retry)},
        retry_after_s=retry,
        lag=lag.lag,
        limit=lag.limit,
    )


async def _admit(request: Request, items: list[tuple[str, Any]], client: str) -> list[admission.Admitted]:
    svc = api_state(request)
    _fair(request, client, len(items))
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
    client = _allow(request, write=True)
    text, value = await _body(request)
    if not isinstance(value, dict):
        raise ApiError(422, "INVALID_EVENT", "the body must be one JSON object (a RawMarketEvent)")
    (result,) = await _admit(request, [(text, value)], client)
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
    client = _allow(request, write=True)
    _text, values = await _body(request)
    limit = ApiSettings.of(api_state(request).settings).max_batch_events
    if not isinstance(values, list) or not values:
        raise ApiError(422, "INVALID_EVENT", "the body must be a non-empty JSON array of RawMarketEvents")
    if len(values) > limit:
        raise ApiError(
            413, "BATCH_TOO_LARGE", f"{len(values)} events; at most {limit} (api.max_batch_events)"
        )
    results = await _admit(request, [(json.dumps(v), v) for v in values], client)
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


AsOf = Annotated[
    str | None,
    Query(
        description="Point in time (epoch ms or ISO-8601, UTC when no offset): the version whose event "
        "time is the latest at or before it (docs/api.md, point-in-time lookups)."
    ),
]
KnownAt = Annotated[
    str | None,
    Query(description="With as_of: only versions published (Kafka record timestamp) by this wall time."),
]


def _as_of(request: Request, kind: asof.Kind, symbol: str, as_of: str, known_at: str | None) -> Any:
    """A point-in-time answer, or the 4xx that says why there is none."""
    svc = api_state(request)
    try:
        q = asof.question(symbol, as_of, known_at, int(time.time() * 1000))
        return svc.histories[kind].as_of(q.symbol, q.as_of_ms, q.known_at_ms), q
    except asof.BadQuery as exc:
        raise ApiError(
            422, exc.code, str(exc), problems=[{"field": exc.field, "code": exc.code, "message": str(exc)}]
        ) from None
    except AsOfMiss as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


@router.get(
    "/v1/symbols/{symbol}/regime",
    response_model=bodies.RegimeView,
    responses={
        **ERRORS,
        410: {"model": bodies.Error, "description": "as_of is older than what is retained."},
    },
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_regime(request: Request, symbol: str, as_of: AsOf = None, known_at: KnownAt = None) -> dict[str, Any]:
    """The latest decision; with as_of, the decision valid then (as published by known_at)."""
    _allow(request, write=False)
    table = api_state(request).table
    if as_of is not None:
        version, q = _as_of(request, "regime", symbol, as_of, known_at)
        flat = asof.regime_answer(version)
        view = Decision(symbol, version.value, version.partition, version.offset).as_dict()
        return {
            **view,
            "as_of_ms": q.as_of_ms,
            "known_at_ms": q.known_at_ms,
            **{k: flat[k] for k in ("event_id", "event_hash", "chain_position", "published_ms")},
        }
    if known_at is not None:
        raise ApiError(422, "KNOWN_AT_WITHOUT_AS_OF", "known_at needs as_of")
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
            "description": "The symbol's latest EnrichedSignalEvent (by signal time) with its partition and "
            "offset; with as_of, the one whose signal time is the latest at or before it (plus as_of_ms, "
            "known_at_ms, published_ms).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnrichedSignalView"}}},
        },
        410: {"model": bodies.Error, "description": "as_of is older than what is retained."},
    },
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_signal(request: Request, symbol: str, as_of: AsOf = None, known_at: KnownAt = None) -> dict[str, Any]:
    _allow(request, write=False)
    if as_of is not None:
        version, q = _as_of(request, "signal", symbol, as_of, known_at)
        return {
            **version.value,
            "partition": version.partition,
            "offset": version.offset,
            "as_of_ms": q.as_of_ms,
            "known_at_ms": q.known_at_ms,
            "published_ms": version.published_ms,
        }
    if known_at is not None:
        raise ApiError(422, "KNOWN_AT_WITHOUT_AS_OF", "known_at needs as_of")
    latest = api_state(request).signals.get(symbol)
    if latest is None:
        raise ApiError(404, "NO_SIGNAL", f"no enriched signal for symbol {symbol!r} on signals.enriched")
    return latest.as_dict()


class BodyStreamingResponse(StreamingResponse):
    """Streams its answers while the request body is still being read: no concurrent
    disconnect listener (Starlette's, under ASGI < 2.4, would take body chunks off `receive`);
    a client that goes away ends the body read with ClientDisconnect instead."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.stream_response(send)


BULK_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "jsonl",
}
ASOF_BODY = {
    "description": 'One question per line: JSON lines ({"symbol", "as_of"[, "known_at"]}) or CSV '
    "with a header naming symbol, as_of and optionally known_at. Streamed: no size bound, "
    "a line longer than 64 KiB is answered as an error.",
    "required": True,
    "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/v1/asof",
    response_class=BodyStreamingResponse,
    responses={
        **ERRORS,
        200: {
            "description": "One answer per input row, in the input's format, streamed: line, symbol, "
            "as_of_ms, known_at_ms, the version's fields, or error and message for that line.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
    openapi_extra={"requestBody": ASOF_BODY, "security": OPEN_OR_BEARER},
)
async def post_asof(
    request: Request,
    of: Annotated[
        str, Query(pattern="^(regime|signal)$", description="Decisions or enriched signals.")
    ] = "regime",
) -> StreamingResponse:
    """Bulk as-of join: many (symbol, as_of[, known_at]) rows, one answer (or error) per row."""
    _allow(request, write=False)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = BULK_TYPES.get(media)
    if fmt is None:
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {media!r}: use text/csv or application/x-ndjson"
        )
    kind: asof.Kind = "signal" if of == "signal" else "regime"
    join = asof_bulk.BulkJoin(api_state(request).histories, kind, fmt, int(time.time() * 1000))  # type: ignore[arg-type]

    # The first line says whether the body is in its format at all: refused whole if not.
    body, splitter = request.stream().__aiter__(), asof_bulk.LineSplitter()
    lines: list[tuple[int, str | None]] = []
    done = False
    while not any(text is None or text.strip() for _, text in lines):
        try:
            lines += splitter.feed(await body.__anext__())
        except StopAsyncIteration:
            lines += splitter.end()
            done = True
            break
    meaningful = [(n, text) for n, text in lines if text is None or text.strip()]
    if not meaningful:
        raise ApiError(422, "EMPTY_BODY", "no line to answer")
    number, text = meaningful[0]
    try:
        first = join.first(number, text)
    except asof.BadQuery as exc:
        raise ApiError(
            422,
            exc.code,
            f"line {number}: {exc}",
            problems=[{"index": number, "code": exc.code, "message": str(exc)}],
        ) from None
    rest = lines[lines.index((number, text)) + 1 :]

    async def answers() -> AsyncIterator[bytes]:
        yield (join.start() + first + "".join(join.rows(rest, more=not done))).encode()
        if not done:
            async for chunk in body:
                out = "".join(join.rows(splitter.feed(chunk), more=True))  # answered a chunk at a time
                if out:
                    yield out.encode()
            tail = "".join(join.rows(splitter.end()))
            if tail:
                yield tail.encode()

    media_out = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return BodyStreamingResponse(answers(), media_type=media_out)


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
    owner = _allow(request, write=False)
    svc = api_state(request)
    known = [t for s in served(svc.partitions) for t in s.event_types]
    unknown = sorted(set(event_types) - set(known))
    if unknown:
        raise ApiError(422, "UNKNOWN_EVENT_TYPE", f"event_type {unknown}: use {', '.join(known)}")
    try:
        after = decode_id(last_event_id, svc.hub.head) if last_event_id else None
    except BadEventId as exc:
        raise ApiError(400, "BAD_LAST_EVENT_ID", str(exc)) from None
    refused = svc.fair.open_stream(owner, ApiSettings.of(svc.settings).max_sse_clients, len(svc.hub.clients))
    if refused is not None:
        status = 503 if refused.startswith("the api") else 429
        raise ApiError(status, "TOO_MANY_STREAMS", refused, headers={"Retry-After": "5"}, retry_after_s=5)
    flt = Filter(frozenset(symbols), frozenset(event_types))
    try:
        joined = svc.hub.register(flt, after)
    except BaseException:
        svc.fair.close_stream(owner)
        raise
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
            svc.fair.close_stream(owner)
            raise ApiError(503, "UNAVAILABLE", f"cannot read the history to resume from: {exc}") from None
    frames = history_frames(joined.start, history, flt)
    svc.metrics.sse_clients.inc()
    peer_closed = {"value": False}

    async def closed(_message: Any) -> None:
        peer_closed["value"] = True

    return EventSourceResponse(
        _events(svc, client, frames, correlation(request), peer_closed, owner),
        ping=ApiSettings.of(svc.settings).sse_heartbeat_s,
        send_timeout=ApiSettings.of(svc.settings).sse_send_timeout_s,
        client_close_handler_callable=closed,
    )


async def _events(
    svc: ApiState, client: Client, history: list[bytes], corr: str, peer_closed: dict[str, bool], owner: str
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
        svc.fair.close_stream(owner)
        reason = reason or client.reason or ("client_closed" if peer_closed["value"] else "write_failed")
        svc.metrics.sse_clients.dec()
        svc.metrics.sse_disconnects.labels(reason).inc()
        svc.log.info("sse_closed", reason=reason, correlation_id=corr)


def _why(reason: str, svc: ApiState) -> str:
    if reason == "slow":
        return f"more than {ApiSettings.of(svc.settings).sse_queue_size} events waited for this client (api.sse_queue_size)"
    return "the api is shutting down; reconnect with Last-Event-ID"
