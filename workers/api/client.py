"""A small asyncio SSE client (HTTP/1.1 over one socket) for the tests and the bench: many
concurrent streams cost one coroutine each, no thread and no HTTP library."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class SseEvent:
    id: str
    event: str
    data: str
    received: float  # time.time() when its last line arrived


@dataclass
class SseStream:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    closed: bool = False
    counted: int = 0  # with count_only: events seen, not parsed


async def listen(
    host: str,
    port: int,
    path: str,
    out: SseStream,
    *,
    headers: dict[str, str] | None = None,
    until: int | None = None,
    stop: asyncio.Event | None = None,
    count_only: bool = False,
) -> SseStream:
    """Read `path` as SSE into `out` until `until` events arrived, `stop` is set, or the
    server ends the stream. `count_only` counts events without parsing them (load tests:
    an `id:` line starts each event, and canonical JSON data never holds `id: `)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        status_line = await reader.readline()
        out.status = int(status_line.split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            out.headers[key.strip().lower()] = value.strip()
        chunked = out.headers.get("transfer-encoding") == "chunked"
        buffer = b""
        current: dict[str, str] = {}
        while until is None or len(out.events) + out.counted < until:
            if stop is not None and stop.is_set():
                break
            chunk = await _read_chunk(reader, chunked)
            if not chunk:
                break
            if count_only:
                tail = buffer[-4:] + chunk
                out.counted += tail.count(b"\nid: ")
                buffer = tail[-4:]
                continue
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                line_text = raw.decode().rstrip("\r")
                if not line_text:
                    if "data" in current:  # a block with only `retry:` is no event
                        out.events.append(
                            SseEvent(
                                current.get("id", ""),
                                current.get("event", "message"),
                                current.get("data", ""),
                                time.time(),
                            )
                        )
                    current = {}
                    continue
                key, _, value = line_text.partition(":")
                if not key:
                    out.comments.append(value.strip())
                else:
                    current[key] = value[1:] if value.startswith(" ") else value
    finally:
        out.closed = True
        writer.close()
    return out


async def _read_chunk(reader: asyncio.StreamReader, chunked: bool) -> bytes:
    if not chunked:
        return await reader.read(65536)
    size_line = await reader.readline()
    if not size_line:
        return b""
    size = int(size_line.strip() or b"0", 16)
    if size == 0:
        return b""
    data = await reader.readexactly(size)
    await reader.readexactly(2)
    return data


class Connection:
    """One keep-alive HTTP/1.1 connection for load generation: a request costs a write and a
    read, none of an HTTP library's machinery (on a 2-core machine the client's CPU counts)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode()
        self.writer.write(request + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
