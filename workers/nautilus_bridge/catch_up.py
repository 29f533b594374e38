"""What a node missed while it was down, read back from the delivery stream by stream id.

A 1.221.0 node reads its external streams from its own start only, with no cursor. So the
FleetActor keeps one in Redis (`<delivery_stream>:reader:<requester>`): the highest Kafka
offset it handed on per type and partition, and a stream id to resume reading from (Redis's
clock at the checkpoint, minus a margin for entries still in flight). On start it reads the
stream from that id and hands on only what lies past those offsets: nothing missed across a
stop, nothing twice (docs/nautilus.md, "Node restarts").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from workers.nautilus_bridge import entries, payloads

PAGE = 1000
RESUME_FIELD = "resume_id"
DELIVERED_TYPES = (payloads.DECISION_TYPE, payloads.ENRICHED_TYPE)


@dataclass
class ReaderCursor:
    """Where a node's Actor resumes: a stream id, and offsets it already handed on."""

    resume_id: str
    high: dict[str, int] = field(default_factory=dict)  # "type:partition" -> highest offset

    def covers(self, kind: str, partition: int, offset: int) -> bool:
        """True when the Actor handed this record on before the restart."""
        return offset <= self.high.get(f"{kind}:{partition}", -1)

    def advance(self, kind: str, partition: int, offset: int) -> None:
        key = f"{kind}:{partition}"
        if offset > self.high.get(key, -1):
            self.high[key] = offset


def cursor_key(delivery_stream: str, requester: str) -> str:
    return f"{delivery_stream}:reader:{requester}"


def redis_now_id(client: redis.Redis, margin_ms: int = 0) -> str:
    """A stream id at Redis's own clock (the one XADD ids come from), `margin_ms` earlier."""
    seconds, micros = client.time()  # type: ignore[misc]
    return f"{max(int(seconds) * 1000 + int(micros) // 1000 - margin_ms, 0)}-0"


def load_cursor(client: redis.Redis, key: str) -> ReaderCursor | None:
    stored: Mapping[Any, Any] = client.hgetall(key)  # type: ignore[assignment]
    if not stored:
        return None
    fields = {k.decode(): v.decode() for k, v in stored.items()}
    resume = fields.pop(RESUME_FIELD, "0-0")
    return ReaderCursor(resume, {k: int(v) for k, v in fields.items()})


def save_cursor(client: redis.Redis, key: str, cursor: ReaderCursor, margin_ms: int) -> None:
    """Store the offsets and a resume id `margin_ms` before now (what may still be in flight)."""
    cursor.resume_id = redis_now_id(client, margin_ms)
    fields: dict[str | bytes, str | int] = {RESUME_FIELD: cursor.resume_id}
    fields.update(cursor.high)
    client.hset(key, mapping=fields)  # type: ignore[arg-type]


def read_after(
    client: redis.Redis, stream: str, start_id: str, *, inclusive: bool = False
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(entry id, payload dict) from `start_id` on, in stream order; None for an entry not of the
    delivered types (the live path drops those too), so a reader's position still moves past it."""
    low = start_id if inclusive else f"({start_id}"
    while True:
        page: Any = client.xrange(stream, min=low, max="+", count=PAGE)
        for raw_id, fields in page:
            entry_id = raw_id.decode()
            try:
                body: dict[str, Any] | None = entries.decode_payload(fields, stream, entry_id)
            except entries.MalformedEntry:
                body = None
            yield entry_id, body if body is not None and body.get("type") in DELIVERED_TYPES else None
        if len(page) < PAGE:
            return
        low = f"({page[-1][0].decode()}"
