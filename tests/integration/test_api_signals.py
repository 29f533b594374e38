"""Enriched signals over the api, on a real broker: EnrichedSignalEvent records produced to
signals.enriched and regime events to regime.events reach an SSE client on one stream,
filtered by symbol and event type, and a resumed stream (rings of 2: history read from Kafka
for both topics) holds each record exactly once; the latest signal per symbol is a lookup."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.fleet import Fleet
from tests.integration.test_api import sse, sse_in_background, start_api
from tests.samples import regime_event
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.enricher.samples import signal
from workers.runtime.topic_io import produce_values
from workers.topics import ENRICHED, EVENTS
from workers.topology import load_topology

pytestmark = pytest.mark.integration
T0 = 1_700_000_000_000
SYMBOLS = ("A", "B", "C")
ROUNDS = 4  # each: one regime event and two enriched signals per symbol


def enriched(symbol: str, ts: int, seq: int) -> dict[str, Any]:
    """A complete EnrichedSignalEvent (every field given: the decoded record equals it)."""
    return {
        "signal": signal(symbol, ts, seq=seq, direction=1 if seq % 2 else -1),
        "meta_confidence": 0.5 + seq / 100,
        "toxicity": 0.25,
        "regime": "TREND_UP",
        "regime_weight": 0.75,
        "model_version": "m1",
        "enriched_at_ms": ts + 5,
        "regime_confidence": 0.8,
        "toxicity_buckets": 3,
        "feature_values": {"direction": 1.0, "ret_1": 0.001},
        "provenance": None,
    }


def produce_round(fleet: Fleet, r: int) -> None:
    settings = fleet.settings()
    topology = load_topology(settings.partitions)
    fleet.produce(EVENTS, [regime_event(T0 + r * 60_000, "RANGE", 0.7, s) for s in SYMBOLS])
    values = [(s, enriched(s, T0 + r * 60_000 + k, seq=r * 10 + k), None) for s in SYMBOLS for k in range(2)]
    produce_values(settings, topology, ENRICHED, values)


def key(data: str) -> tuple[str, int, int]:
    value = json.loads(data)
    return (ENRICHED if "signal" in value else EVENTS, value["partition"], value["offset"])


def test_regime_events_and_enriched_signals_stream_filter_and_resume_exactly(fleet_factory):
    fleet = fleet_factory()
    api = start_api(fleet, api__sse_history="2")
    caps = api.get("/v1/capabilities").json()
    assert caps["features"]["enrichment"] is True
    assert (
        caps["streams"][ENRICHED] == ["EnrichedSignalEvent"]
        and "EngineRunCompleted" in caps["streams"][EVENTS]
    )

    regimes, signals = ROUNDS * len(SYMBOLS), 2 * ROUNDS * len(SYMBOLS)
    total = regimes + signals
    everything, t_all = sse_in_background(api, "/v1/stream", until=total, timeout=60)
    only_a, t_a = sse_in_background(
        api, "/v1/symbols/A/events?event_type=EnrichedSignalEvent", until=2 * ROUNDS, timeout=60
    )
    deadline = time.monotonic() + 10
    while api.get("/status").json()["sse"]["clients"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    for r in range(ROUNDS):
        produce_round(fleet, r)
    t_all.join(70)
    t_a.join(70)

    # One stream carries both topics, each record once, as canonical JSON with its coordinates.
    assert len(everything.events) == total, fleet.log("api")[-2000:]
    keys = [key(e.data) for e in everything.events]
    assert len(set(keys)) == total
    assert sum(e.event == "EnrichedSignalEvent" for e in everything.events) == signals
    assert sum(e.event == "EngineRunCompleted" for e in everything.events) == regimes
    for topic in (EVENTS, ENRICHED):
        for p in (0, 1):
            offsets = [o for t, q, o in keys if (t, q) == (topic, p)]
            assert offsets == sorted(offsets)
    first = next(e for e in everything.events if e.event == "EnrichedSignalEvent")
    value = json.loads(first.data)
    sig = value["signal"]
    sent = enriched(sig["symbol"], sig["signal_ts_ms"], int(sig["signal_id"].rsplit("-", 1)[1]))
    # As the topic holds it: fields added to the contract since arrive with their defaults.
    serde = Serde()
    sent = serde.decode("EnrichedSignalEvent", serde.encode("EnrichedSignalEvent", sent))
    assert first.data == dumps({**sent, "partition": value["partition"], "offset": value["offset"]})
    assert first.id.count("e") == 2 and len(first.id.split(",")) == 4  # 0:..,1:..,e0:..,e1:..

    # Filtered by symbol and event type: A's signals only, in order.
    got_a = [json.loads(e.data) for e in only_a.events]
    assert [g["signal"]["signal_id"] for g in got_a] == [
        f"A-sig-{r * 10 + k}" for r in range(ROUNDS) for k in range(2)
    ]

    # Resume from ids along the stream: the rings hold 2 per partition, so most of the history
    # is read from Kafka, for both topics; each record arrives exactly once.
    for k in (0, total // 2, total - 3):
        rest = sse(
            api, "/v1/stream", until=total - k, headers={"Last-Event-ID": everything.events[k].id}, timeout=3
        )
        assert sorted(key(e.data) for e in rest.events) == sorted(keys[k + 1 :]), k

    # An id of the regime-only format resumes regime.events; signals.enriched from the head.
    old = sse(api, "/v1/stream", until=regimes + 1, headers={"Last-Event-ID": "0:-1,1:-1"}, timeout=2)
    assert sorted(key(e.data) for e in old.events) == sorted(k for k in keys if k[0] == EVENTS)

    # A filtered stream from the start, resumed from its own third id.
    path = "/v1/symbols/B/events?event_type=EnrichedSignalEvent"
    head = sse(api, f"{path}&last_event_id=0:-1,1:-1,e0:-1,e1:-1", until=3)
    tail = sse(api, path, until=2 * ROUNDS, headers={"Last-Event-ID": head.events[-1].id}, timeout=2)
    ids_b = [json.loads(e.data)["signal"]["signal_id"] for e in head.events + tail.events]
    assert ids_b == [f"B-sig-{r * 10 + k}" for r in range(ROUNDS) for k in range(2)]

    # The latest signal per symbol, and the table in /status.
    latest = api.get("/v1/symbols/C/signal")
    assert latest.status_code == 200
    assert latest.json()["signal"]["signal_id"] == f"C-sig-{(ROUNDS - 1) * 10 + 1}"
    missing = api.get("/v1/symbols/NOPE/signal")
    assert missing.status_code == 404 and missing.json()["error"] == "NO_SIGNAL"
    table = api.get("/status").json()["signal_table"]
    assert table["symbols"] == len(SYMBOLS) and table["caught_up"] is True
    assert api.get("/v1/stream?event_type=Nope").status_code == 422
    assert fleet.stop("api") == 0
