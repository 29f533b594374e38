"""(m) point-in-time lookups, in process: the history's restore (folding decoded regime events,
as the api's tails do after decoding), a single as-of lookup through the api's HTTP handlers
(ASGI in process: no socket, no broker), and the bulk as-of join (CSV in, CSV out)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import numpy as np

from workers.api.asof_bulk import asof_join
from workers.api.history import VersionedTable, fold_regime_event

T0 = 1_700_000_000_000


def decision(symbol: str, ts: int, n: int) -> dict[str, Any]:
    """A deciding regime event, shaped as the engine publishes it."""
    return {
        "symbol": symbol,
        "event_type": "EngineRunCompleted",
        "event_id": f"{symbol}-{n}",
        "run_id": f"run-{symbol}-{n}",
        "engine_timestamp_ms": ts,
        "engine_mode": "TRUTH",
        "regime_output": {"regime": "RANGE", "confidence": 0.7, "features": {}, "reason_codes": []},
        "hysteresis_decision": None,
        "provenance": {
            "event_hash": f"h{n}",
            "prev_event_hash": "",
            "input_hash": "",
            "config_fingerprint": "",
        },
        "correlation_id": "",
    }


def restore(symbols: int, days: int, per_day: int) -> tuple[VersionedTable, float, int]:
    table = VersionedTable()
    step = 86_400_000 // per_day
    events = [decision(f"S{s:03d}", T0 + i * step, i) for i in range(days * per_day) for s in range(symbols)]
    started = time.perf_counter()
    for offset, event in enumerate(events):
        fold_regime_event(table, event, 0, offset, event["engine_timestamp_ms"] + 50)
    return table, time.perf_counter() - started, len(events)


async def _lookups(table: VersionedTable, symbols: int, span_ms: int, n: int) -> list[float]:
    from workers.api.app import ApiState, create_app

    svc = ApiState.__new__(ApiState)  # only what the as-of route reads
    svc.histories = {"regime": table, "signal": VersionedTable()}
    from workers.api.table import RegimeTable

    svc.table = RegimeTable()
    from workers.api.auth import TokenCheck
    from workers.api.fairness import FairAdmission
    from workers.config import load_settings

    svc.settings, svc.tokens, svc.fair = load_settings(), TokenCheck([]), FairAdmission({})
    app = create_app()
    app.state.api = svc
    rng = random.Random(1)
    times = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(n):
            symbol = f"S{rng.randrange(symbols):03d}"
            params = {"as_of": str(T0 + rng.randrange(span_ms)), "known_at": str(T0 + span_ms)}
            started = time.perf_counter()
            answer = await client.get(f"/v1/symbols/{symbol}/regime", params=params)
            times.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    return times


def run_asof_bench(
    symbols: int = 500, days: int = 30, per_day: int = 24, rows: int = 200_000
) -> dict[str, Any]:
    print(f"(m) as-of: restore {symbols} symbols x {days} days x {per_day} decisions/day...", flush=True)
    table, restore_s, folded = restore(symbols, days, per_day)
    span = days * 86_400_000
    times = asyncio.run(_lookups(table, symbols, span, 2000))
    rng = random.Random(2)
    body = "symbol,as_of,known_at\n" + "".join(
        f"S{rng.randrange(symbols):03d},{T0 + rng.randrange(span)},{T0 + rng.randrange(span)}\n"
        for _ in range(rows)
    )
    data = body.encode()
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    started = time.perf_counter()
    answered = sum(1 for _ in asof_join(chunks, {"regime": table}, fmt="csv", now_ms=T0 + 2 * span)) - 1
    bulk_s = time.perf_counter() - started
    assert answered == rows
    return {
        "asof_restore_decisions": folded,
        "asof_restore_s": round(restore_s, 2),
        "asof_restore_decisions_per_s": round(folded / restore_s),
        "asof_lookup_p50_ms": round(float(np.percentile(times, 50)) * 1000, 3),
        "asof_lookup_p99_ms": round(float(np.percentile(times, 99)) * 1000, 3),
        "asof_bulk_rows_per_s": round(rows / bulk_s),
    }


if __name__ == "__main__":
    print(run_asof_bench())
