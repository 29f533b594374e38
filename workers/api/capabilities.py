"""GET /v1/capabilities: what this fleet and this api can do, from settings and topology."""

from __future__ import annotations

from typing import Any

from workers.config import FleetSettings
from workers.contracts import SCHEMA_NAMES, contract
from workers.engine.settings import EngineSettings
from workers.regime.classifier import ENGINE_VERSION
from workers.topics import ENRICHED
from workers.topology import Topology

from .fairness import ANONYMOUS, Quota
from .settings import ApiSettings
from .streams import served

API_VERSION = "v1"


def schema_versions() -> dict[str, str]:
    """Contract -> the default of its `schema_version` field ("1" when it has none)."""
    out = {}
    for name in SCHEMA_NAMES:
        fields = {f["name"]: f for f in contract(name).schema["fields"]}
        out[name] = str(fields.get("schema_version", {}).get("default", "1"))
    return out


def capabilities(
    settings: FleetSettings, topology: Topology, client: str = ANONYMOUS, quota: Quota | None = None
) -> dict[str, Any]:
    api = ApiSettings.of(settings)
    quota = quota or Quota()
    return {
        "client": {
            "name": client,
            "weight": quota.weight,
            "events_per_s": quota.events_per_s,
            "max_streams": quota.max_streams,
        },
        "api_version": API_VERSION,
        "engine_version": ENGINE_VERSION,
        "engine_modes": ["truth", "hysteresis"],
        "engine_mode": EngineSettings.of(settings).mode,
        "schemas": schema_versions(),
        "topics": {name: settings.topic(name) for name in sorted(topology.topics)},
        "features": {
            "hysteresis": EngineSettings.of(settings).mode == "hysteresis",
            "enrichment": ENRICHED in topology.topics,
            "registry_framing": bool(settings.kafka.schema_registry_url),
            "admission_backpressure": api.ingest_lag_limit > 0,
            "read_auth": api.protect_reads,
            "cors": bool(api.cors_origins),
            "point_in_time": True,
            "fair_admission": True,
        },
        "limits": {
            "max_body_bytes": api.max_body_bytes,
            "max_batch_events": api.max_batch_events,
            "ingest_lag_limit": api.ingest_lag_limit,
            "retry_after_s": api.retry_after_s,
            "dedupe_window": api.dedupe_window,
            "sse_queue_size": api.sse_queue_size,
            "sse_history": api.sse_history,
            "sse_heartbeat_s": api.sse_heartbeat_s,
            "max_sse_clients": api.max_sse_clients,
            "asof_retention_ms": api.asof_retention_ms,
            "admission_window_s": api.admission_window_s,
            "fair_share_from": api.fair_share_from,
        },
        "streams": {s.topic: list(s.event_types) for s in served(topology.topics)},
    }
