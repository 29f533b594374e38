"""The committed OpenAPI document is what the code generates; the DAG renders every node."""

from __future__ import annotations

import json

from workers.api.dag import as_json, as_mermaid
from workers.api.openapi import COMMITTED, document, render
from workers.topology import load_topology


def test_the_committed_openapi_is_current():
    assert COMMITTED.read_text() == render(), (
        "docs/openapi.json is stale: run `regime-fleet api openapi > docs/openapi.json`"
    )


def test_every_route_and_the_raw_event_schema_are_documented():
    doc = document()
    paths = set(doc["paths"])
    for path in (
        "/v1/capabilities",
        "/v1/events",
        "/v1/events/batch",
        "/v1/symbols/{symbol}/regime",
        "/v1/symbols/{symbol}/signal",
        "/v1/symbols/{symbol}/events",
        "/v1/stream",
        "/v1/runs/{run_id}",
        "/v1/provenance/verify",
        "/v1/topology",
        "/healthz",
        "/readyz",
        "/metrics",
        "/status",
    ):
        assert path in paths, path
    raw = doc["components"]["schemas"]["RawMarketEvent"]
    assert {"event_id", "symbol", "event_ts_ms", "kind"} <= set(raw["required"])
    assert "trade" not in raw["required"]  # nullable members may be left out
    assert doc["paths"]["/v1/events"]["post"]["security"] == [{"bearer": []}]
    enriched, located = doc["components"]["schemas"]["EnrichedSignalView"]["allOf"]
    assert {"signal", "meta_confidence", "toxicity"} <= set(enriched["required"])
    assert "symbol" in enriched["properties"]["signal"]["required"]
    assert located["required"] == ["partition", "offset"]
    json.dumps(doc)


def test_the_dag_renders_every_topic_worker_and_edge():
    topology = load_topology(2)
    mermaid = as_mermaid(topology)
    assert mermaid.startswith("flowchart LR\n")
    for name in [*topology.topics, *topology.workers, "api"]:
        assert f"({name})]" in mermaid or f"[[{name}]]" in mermaid or "{{api}}" in mermaid, name
    rendered = as_json(topology)
    assert rendered["topics"]["market.raw"]["partitions"] == 2
    assert {"from": "market.raw", "to": "ingest", "kind": "input"} in rendered["edges"]
    assert {"from": "api", "to": "market.raw", "kind": "output"} in rendered["edges"]
