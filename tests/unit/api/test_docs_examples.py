"""The curl examples of docs/api.md's point-in-time and fair admission sections, run against
the api's app in process (ASGI, real handlers and histories; no broker): each answers 2xx
with what the section says. Examples that admit events need the broker (test_api.py)."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path
from typing import Any

import httpx

from tests.samples import result_event
from workers.api.app import ApiState, create_app
from workers.api.auth import TokenCheck, load_clients, load_tokens
from workers.api.fairness import ANONYMOUS, DEFAULT, FairAdmission, Quota
from workers.api.history import fold_regime_event, fold_signal
from workers.api.metrics import ApiMetrics
from workers.api.settings import ApiSettings
from workers.api.streams import Hub
from workers.config import load_settings
from workers.contracts import Serde
from workers.enricher.samples import signal
from workers.runtime.health import WorkerStatus
from workers.runtime.observability import get_logger
from workers.topology import load_topology

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
T = 1_709_307_062_000  # 2024-03-01T15:31:02Z
FILES = {"trades.csv": f"symbol,as_of,known_at\nSPX,{T},\nSPX,{T},{T + 3000}\n", "event.json": "{}"}
NEEDS_BROKER = ("/v1/events",)


def examples() -> tuple[dict[str, str], list[list[str]]]:
    text = DOC.read_text()
    start = text.index("## Point-in-time lookups")
    blocks = re.findall(r"```sh\n(.*?)```", text[start : text.index("## Streams", start)], re.S)
    env, commands = {}, []
    for block in blocks:
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command)
            if words and words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = value
            elif words and words[0] == "curl":
                commands.append(words[1:])
    return env, commands


def state(env: dict[str, str]) -> ApiState:
    clients = json.loads(env["REGIME_FLEET_API__CLIENTS"])
    settings = load_settings(partitions=1, api={"clients": clients})
    api = ApiSettings.of(settings)
    metrics = ApiMetrics()
    svc = ApiState(
        settings=settings,
        topology=load_topology(1),
        metrics=metrics,
        tokens=TokenCheck(load_tokens(api), load_clients(api)),
        log=get_logger(worker="api"),
        serde=Serde(),
        status=WorkerStatus(worker="api", group="", metrics=metrics.worker),
        partitions={},
        hub=Hub([], 10, 10),
        fair=FairAdmission(
            {ANONYMOUS: Quota(), DEFAULT: Quota()}
            | {n: Quota(c.weight, c.events_per_s, c.max_streams) for n, c in api.clients.items()}
        ),
    )
    for offset, ts in enumerate((T - 60_000, T)):
        event = result_event(ts, "EngineRunCompleted", "SPX")
        event["regime_output"] = {"regime": "RANGE", "confidence": 0.7, "features": {}, "reason_codes": []}
        event["provenance"]["event_hash"] = f"h{offset}"
        fold_regime_event(svc.histories["regime"], event, 0, offset, ts + 5000)
        svc.table.apply(event, 0, offset)
        enriched = {"signal": signal("SPX", ts, seq=offset), "regime": "RANGE", "regime_weight": 0.8}
        fold_signal(svc.histories["signal"], {**enriched, "meta_confidence": 0.5}, 0, offset, ts + 2000)
    return svc


def request(words: list[str]) -> tuple[str, str, dict[str, str], bytes]:
    method, headers, body, url = "GET", {}, b"", ""
    it = iter(words)
    for word in it:
        if word == "-X":
            method = next(it)
        elif word == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "--data-binary":
            data = next(it)
            body = FILES[data[1:]].encode() if data.startswith("@") else data.encode()
        elif word.startswith("http"):
            url = word
    return method, url, headers, body


def test_the_curl_examples_answer_as_documented() -> None:
    env, commands = examples()
    assert len(commands) >= 6
    app = create_app(state(env))
    ran: list[dict[str, Any]] = []

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            for words in commands:
                method, url, headers, body = request(words)
                if any(url.split("?")[0].endswith(path) for path in NEEDS_BROKER):
                    continue
                answer = await client.request(method, url, headers=headers, content=body)
                assert answer.status_code == 200, (words, answer.text)
                ran.append({"url": url, "text": answer.text})

    asyncio.run(run())
    by_url = {r["url"].split("//", 1)[1]: r["text"] for r in ran}
    latest = json.loads(by_url["127.0.0.1:8080/v1/symbols/SPX/regime?as_of=2024-03-01T15:31:02Z"])
    assert (latest["engine_timestamp_ms"], latest["event_hash"], latest["chain_position"]) == (T, "h1", 1)
    known = json.loads(by_url[f"127.0.0.1:8080/v1/symbols/SPX/regime?as_of={T}&known_at={T + 3000}"])
    assert known["engine_timestamp_ms"] == T - 60_000  # the later one was published at T + 5000
    rows = by_url["127.0.0.1:8080/v1/asof"].splitlines()
    assert len(rows) == 3 and rows[1].startswith(f"2,SPX,{T},,RANGE") and rows[2].startswith("3,SPX,")
    assert f",{T - 60_000}," in rows[2]  # known_at T + 3000: the earlier decision
    caps = json.loads(by_url["127.0.0.1:8080/v1/capabilities"])
    assert caps["client"] == {"name": "desk", "weight": 3.0, "events_per_s": 5000.0, "max_streams": 20}
