"""Admission of raw market events: validated exactly as `regime-fleet produce` validates them
(workers.contracts.lines.encode_line, the one implementation), produced keyed by symbol with an
idempotent producer, each (symbol, event_id) accepted once.

Accepted once: the api remembers the last `api.dedupe_window` admissions with their partition
and offset; a repeat (also one racing the first) answers 200 with the first one's coordinates
and produces nothing. Past that window, or across api replicas, the repeat is produced again
and ingest's own dedupe window (ingest.dedupe_window event_ids per partition) drops it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from workers import clients
from workers.config import FleetSettings
from workers.contracts import ContractError, Serde
from workers.contracts.lines import EncodedLine, encode_line
from workers.ingest.settings import IngestSettings
from workers.topics import RAW

from .settings import ApiSettings


@dataclass(frozen=True)
class Problem:
    """One reason an event was refused: which event of the body, which field, what rule."""

    index: int
    code: str
    message: str
    event_id: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


# Rules whose field the message does not start with (workers/contracts/validation.py).
FIELD_OF_CODE = {
    "EMPTY_SYMBOL": "symbol",
    "EMPTY_EVENT_ID": "event_id",
    "TIMESTAMP_OUT_OF_RANGE": "event_ts_ms",
    "UNKNOWN_KIND": "kind",
    "KIND_MISMATCH": "kind",
    "CROSSED_QUOTE": "quote",
    "AS_OF_AFTER_EVENT": "snapshot_inputs.as_of_ts_ms",
    "EMPTY_WINDOW": "snapshot_inputs.window",
}


def field_of(code: str, exc: ContractError) -> str | None:
    """The field a refusal is about, read off the validator's message (best effort)."""
    if code in FIELD_OF_CODE:
        return FIELD_OF_CODE[code]
    text = getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
    found = re.search(r"RawMarketEvent\.([\w.\[\]]+)\)? is ", text) or re.match(
        r"([\w.\[\]]+)(?: is |: )", text
    )
    return found.group(1) if found else None


class Invalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} invalid event(s)")
        self.problems = problems


class Unavailable(Exception):
    """The producer cannot take or deliver the events now; retry later."""


@dataclass(frozen=True)
class Admitted:
    event_id: str
    symbol: str
    partition: int
    offset: int
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "symbol": self.symbol,
            "partition": self.partition,
            "offset": self.offset,
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True)
class Prepared:
    symbol: str
    event_id: str
    record: EncodedLine


def prepare(items: Sequence[tuple[str, Any]], settings: FleetSettings, serde: Serde) -> list[Prepared]:
    """Every event, given as (its JSON text, its parsed value), encoded as `produce` would
    encode that line; or Invalid naming each refused one."""
    out, problems = [], []
    for index, (line, value) in enumerate(items):
        try:
            record = encode_line(
                line,
                "RawMarketEvent",
                serde,
                min_ts_ms=IngestSettings.of(settings).min_event_ts_ms,
                max_ts_ms=IngestSettings.of(settings).max_event_ts_ms,
                topic=settings.topic(RAW),
            )
        except ContractError as exc:
            event_id = value.get("event_id") if isinstance(value, dict) else None
            code = getattr(exc, "code", "INVALID")
            problems.append(Problem(index, code, str(exc), _text(event_id), field_of(code, exc)))
            continue
        out.append(Prepared(value["symbol"], value["event_id"], record))
    if problems:
        raise Invalid(problems)
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Admission:
    """Owned by the event loop; a thread polls the producer for delivery reports."""

    def __init__(self, settings: FleetSettings, serde: Serde) -> None:
        self.settings = settings
        self.serde = serde
        self.topic = settings.topic(RAW)
        self.window = ApiSettings.of(settings).dedupe_window
        # Admissions wait for their acks: little lingering, and a bound on a broker that is away.
        conf = {**clients.producer_config(settings, None), "linger.ms": 1, "message.timeout.ms": 30_000}
        self.producer = Producer(conf)
        self.accepted: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self.inflight: dict[tuple[str, str], asyncio.Future[tuple[int, int]]] = {}
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="admission-poll", daemon=True)
        self._poller.start()

    async def admit(self, events: list[Prepared], correlation_id: str) -> list[Admitted]:
        """Produce every event not yet accepted; wait for all deliveries."""
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[tuple[int, int]] | tuple[int, int]] = []
        fresh: list[bool] = []
        mine: set[tuple[str, str]] = set()
        try:
            for e in events:
                key = (e.symbol, e.event_id)
                known = self.accepted.get(key) or self.inflight.get(key)
                if known is not None:
                    waits.append(known)
                    fresh.append(False)
                    continue
                future: asyncio.Future[tuple[int, int]] = loop.create_future()
                self._produce(e, correlation_id, loop, future)
                self.inflight[key] = future
                mine.add(key)
                future.add_done_callback(partial(self._settle, key))
                waits.append(future)
                fresh.append(True)
        except BufferError as exc:
            # Those already produced are delivered and remembered: a retry of the whole
            # batch gets them back as duplicates and produces only the rest.
            raise Unavailable(
                f"the producer queue is full after {len(mine)} of {len(events)} events"
            ) from exc
        results = []
        for e, wait, new in zip(events, waits, fresh, strict=True):
            # shield: a client that goes away does not cancel what others wait on.
            partition, offset = wait if isinstance(wait, tuple) else await asyncio.shield(wait)
            results.append(Admitted(e.event_id, e.symbol, partition, offset, not new))
        return results

    def _produce(
        self, e: Prepared, correlation_id: str, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        def delivered(err: KafkaError | None, msg: Message) -> None:  # on the poll thread
            if err is not None:
                loop.call_soon_threadsafe(_fail, future, Unavailable(f"delivery failed: {err.str()}"))
            else:
                loop.call_soon_threadsafe(_resolve, future, (msg.partition(), msg.offset()))

        headers = [*e.record.headers, ("correlation_id", correlation_id.encode())]
        self.producer.produce(self.topic, e.record.data, e.record.key, headers=headers, on_delivery=delivered)

    def _settle(self, key: tuple[str, str], future: asyncio.Future[tuple[int, int]]) -> None:
        """Delivered: remember it (bounded); failed: forget it, so a retry produces again."""
        if self.inflight.get(key) is future:
            del self.inflight[key]
        if not future.cancelled() and future.exception() is None and self.window:
            self.accepted[key] = future.result()
            while len(self.accepted) > self.window:
                self.accepted.popitem(last=False)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._poller.join(5)
        self.producer.flush(timeout_s)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # retrieved: a failure nobody awaits is not logged as lost
