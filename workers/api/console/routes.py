"""Serves the console: `/` is the page, `/console/<asset>` its scripts and styles (only the
files shipped in static/), and the data endpoints the console adds (workers/api/console_routes.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from ..console_routes import router as data_router
from ..errors import ApiError

STATIC = Path(__file__).parent / "static"
MEDIA = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
# Everything the page loads comes from this api: no CDN, no inline script (docs/console.md).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter()
router.include_router(data_router)


def assets() -> dict[str, Path]:
    """The files the console ships, by name (nothing else under static/ is ever served)."""
    return {p.name: p for p in STATIC.iterdir() if p.suffix in MEDIA}


@router.get("/", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(), headers=HEADERS)


@router.get("/console/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    path = assets().get(name)
    if path is None:
        raise ApiError(404, "UNKNOWN_ASSET", f"the console has no file {name!r}")
    return FileResponse(path, media_type=MEDIA[path.suffix], headers=HEADERS)
