"""The endpoints the console needs beyond the others (docs/console.md): the regime board, one
symbol's timeline and price bars, and the dead-letter queues with their original bytes.
Reads only; the Kafka reads run in a thread, bounded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from workers.topics import EVENTS

from . import board, console_data
from .control_routes import _blocking
from .errors import ApiError
from .routes import ERRORS, OPEN_OR_BEARER, _allow, api_state
from .streams import encode_id

router = APIRouter(tags=["console"])
Recent = Annotated[int, Query(ge=0, le=200, description="Decisions per row (the row's timeline).")]
Limit = Annotated[int, Query(ge=1, le=20_000, description="At most this many, the latest.")]


@router.get("/v1/board", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def get_board(request: Request, recent: Recent = 12) -> dict[str, Any]:
    """One row per symbol: its regime, confidence, since when, and its last decisions; and
    `last_event_id`, the stream position of exactly this board (on the event loop, like the
    tails' updates), so `/v1/stream?last_event_id=` continues it with nothing missed."""
    _allow(request, write=False)
    svc = api_state(request)
    rows = board.board(svc.histories["regime"], recent)
    head = {slot: offset for slot, offset in svc.hub.head.items() if slot[0] == EVENTS}
    return {"symbols": rows, "last_event_id": encode_id(head) if head else None}


@router.get("/v1/symbols/{symbol}/timeline", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def get_timeline(request: Request, symbol: str, limit: Limit = 2000) -> dict[str, Any]:
    """The symbol's last decisions (regime over time) and enriched signals, oldest first, and
    `last_event_id`: the stream position of exactly this answer (as for the board)."""
    _allow(request, write=False)
    svc = api_state(request)
    found = board.timeline(svc.histories["regime"], svc.histories["signal"], symbol, limit)
    return {**found, "last_event_id": encode_id(svc.hub.head) if svc.hub.head else None}


@router.get("/v1/symbols/{symbol}/bars", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def get_bars(request: Request, symbol: str, limit: Limit = 2000) -> dict[str, Any]:
    """The symbol's last prices on market.buffer (bars' OHLC, trades' price), by event time."""
    _allow(request, write=False)
    result: dict[str, Any] = await _blocking(
        console_data.price_bars, api_state(request).settings, symbol, limit
    )
    return result


@router.get("/v1/dead-letters", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def get_dead_letters(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> dict[str, Any]:
    """The latest records of the dead-letter topics: error_code, message, where from, and a link
    to the original bytes."""
    _allow(request, write=False)
    svc = api_state(request)
    result: dict[str, Any] = await _blocking(
        console_data.recent_dead_letters, svc.settings, svc.topology, limit
    )
    return result


@router.get(
    "/v1/dead-letters/{topic}/{partition}/{offset}",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def get_dead_letter_bytes(
    request: Request,
    topic: str,
    partition: Annotated[int, Path(ge=0)],
    offset: Annotated[int, Path(ge=0)],
) -> Response:
    """The dead-lettered record's original value, byte for byte, as a download."""
    _allow(request, write=False)
    svc = api_state(request)

    def read() -> bytes:
        try:
            return console_data.original_bytes(svc.settings, svc.topology, topic, partition, offset)
        except console_data.UnknownDeadLetter as exc:  # an ApiError passes _blocking unchanged
            raise ApiError(404, "UNKNOWN_DEAD_LETTER", str(exc)) from None

    raw: bytes = await _blocking(read)
    name = f"{topic}-{partition}-{offset}.bin"
    return Response(
        raw,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
