"""Point-in-time lookups on a real broker, on a fleet's output: for thousands of random
(symbol, T, K) the api's as-of answer (single lookups and the bulk join) equals the answer
computed from regime.events read directly, never has an engine time after T nor a publication
after K; the api restarted answers the same; bad questions get clear 4xx answers."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from typing import Any

import pytest

from harness.demo.data import index_events
from tests.integration.expected import expected_runs
from tests.integration.fleet import DAY_MS
from tests.integration.test_api import start_api
from workers.api.history import RANK
from workers.runtime.reader import read_all
from workers.topics import EVENTS

pytestmark = pytest.mark.integration
QUESTIONS = 3000


def reference(events: list[Any], symbol: str, t: int, k: int | None) -> tuple[int, int] | None:
    """(partition, offset) of the deciding event valid at t among those published by k."""
    best = None
    for s in events:
        v = s.value
        if v["symbol"] != symbol or v["event_type"] not in RANK or v["engine_timestamp_ms"] > t:
            continue
        if k is not None and s.timestamp_ms > k:
            continue
        key = (v["engine_timestamp_ms"], RANK[v["event_type"]], s.offset, s.partition)
        best = key if best is None or key > best else best
    return None if best is None else (best[3], best[2])


def questions(events: list[Any], rng: random.Random) -> list[dict[str, Any]]:
    times = [s.value["engine_timestamp_ms"] for s in events]
    published = [s.timestamp_ms for s in events]
    out = []
    for _ in range(QUESTIONS):
        q: dict[str, Any] = {
            "symbol": rng.choice(("SPX", "NDX")),
            "as_of": rng.randint(min(times) - DAY_MS, max(times) + DAY_MS),
        }
        if rng.random() < 0.6:
            q["known_at"] = rng.randint(min(published) - 1000, max(published) + 1000)
        out.append(q)
    return out


def bulk(api: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    answer = api.post("/v1/asof", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines()]


def check(events: list[Any], rows: list[dict[str, Any]], answers: list[dict[str, Any]]) -> int:
    assert [a["line"] for a in answers] == list(range(1, len(rows) + 1))
    answered = 0
    for q, a in zip(rows, answers, strict=True):
        want = reference(events, q["symbol"], q["as_of"], q.get("known_at"))
        if want is None:
            assert a.get("error") in ("NO_DECISION_AS_OF", "NOT_PUBLISHED_BY_KNOWN_AT"), (q, a)
            continue
        assert (a["partition"], a["offset"]) == want, (q, a)
        assert a["engine_timestamp_ms"] <= q["as_of"]
        assert "known_at" not in q or a["published_ms"] <= q["known_at"]
        answered += 1
    return answered


def test_as_of_answers_equal_regime_events_read_directly_across_a_restart(fleet_factory):
    fleet = fleet_factory()
    fleet.start_all()
    by_symbol = [list(index_events(s, days=30, window=5)) for s in ("SPX", "NDX")]
    events_in = [e for events in by_symbol for e in events]
    expected = 2 * sum(len(v) for v in expected_runs(events_in, DAY_MS).values())
    for part in range(3):  # three publication waves in event time: known_at tells them apart
        wave = [
            e for events in by_symbol for e in events[part * len(events) // 3 : (part + 1) * len(events) // 3]
        ]
        fleet.produce("market.raw", wave)
        time.sleep(2)
    deadline = time.monotonic() + 120
    events: list[Any] = []
    while time.monotonic() < deadline and len(events) < expected:
        events = list(read_all(fleet.settings(), EVENTS, "OrchestratorEvent"))
        time.sleep(1)
    assert len(events) >= expected, fleet.log("publisher")[-2000:]

    api = start_api(fleet)
    rng = random.Random(25)
    rows = questions(events, rng)
    assert check(events, rows, bulk(api, rows)) > QUESTIONS // 3

    for q in rows[:150]:  # single lookups answer as the bulk join does
        params = {k: v for k, v in q.items() if k != "symbol"}
        got = api.get(f"/v1/symbols/{q['symbol']}/regime", params=params)
        want = reference(events, q["symbol"], q["as_of"], q.get("known_at"))
        if want is None:
            assert got.status_code == 404, got.text
        else:
            body = got.json()
            assert (body["partition"], body["offset"]) == want and body["event_hash"]
            assert body["chain_position"] >= 0 and body["as_of_ms"] == q["as_of"]

    fleet.stop("api")
    api = start_api(fleet)
    assert check(events, rows, bulk(api, rows)) > QUESTIONS // 3


def test_bad_questions_get_clear_4xx_answers_and_bad_rows_their_line(fleet_factory):
    fleet = fleet_factory()
    fleet.start_all()
    fleet.produce("market.raw", [e for e in index_events("SPX", days=8, window=5)])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list(read_all(fleet.settings(), EVENTS, "OrchestratorEvent")):
        time.sleep(1)
    api = start_api(fleet)
    decided = None
    while time.monotonic() < deadline and decided is None:
        r = api.get("/v1/symbols/SPX/regime")
        decided = r.json() if r.status_code == 200 else None
        time.sleep(0.5)
    assert decided is not None
    t = decided["engine_timestamp_ms"]
    future = int(time.time() * 1000) + 3_600_000
    cases = {
        (("as_of", future),): (422, "AS_OF_IN_FUTURE"),
        (("as_of", "last tuesday"),): (422, "INVALID_TIME"),
        (("as_of", t), ("known_at", 1)): (404, "NOT_PUBLISHED_BY_KNOWN_AT"),
        (("known_at", t),): (422, "KNOWN_AT_WITHOUT_AS_OF"),
    }
    for params, (status, code) in cases.items():
        got = api.get("/v1/symbols/SPX/regime", params=dict(params))
        assert (got.status_code, got.json()["error"]) == (status, code), got.text
    unknown = api.get("/v1/symbols/NOPE/regime", params={"as_of": t})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "UNKNOWN_SYMBOL")
    ok = api.get("/v1/symbols/SPX/regime", params={"as_of": t})
    assert ok.status_code == 200 and ok.json()["engine_timestamp_ms"] == t

    body = f"symbol,as_of,known_at\nSPX,{t},\nSPX,{future},\nSPX,yesterday,\nSPX,{t}\nNOPE,{t},\n"
    csv_answer = api.post("/v1/asof", content=body, headers={"Content-Type": "text/csv"})
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert [(r["line"], r["error"] or r["regime"]) for r in rows] == [
        ("2", decided["regime"]),
        ("3", "AS_OF_IN_FUTURE"),
        ("4", "INVALID_TIME"),
        ("5", "INVALID_ROW"),
        ("6", "UNKNOWN_SYMBOL"),
    ]
    wrong_type = api.post("/v1/asof", content=body, headers={"Content-Type": "application/xml"})
    assert (wrong_type.status_code, wrong_type.json()["error"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
