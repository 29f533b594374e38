"""Response bodies, as pydantic models: they are the OpenAPI document's schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    index: int | None = Field(None, description="Which event of the body (batch: its position).")
    event_id: str | None = None
    field: str | None = Field(None, description="The offending field, when one is named.")
    code: str
    message: str


class Error(BaseModel):
    error: str = Field(description="A stable code: BAD_REQUEST, INVALID_EVENT, UNAUTHORIZED, ...")
    message: str
    correlation_id: str
    problems: list[Problem] = Field(default_factory=list)
    retry_after_s: int | None = None
    lag: int | None = Field(None, description="With BACKPRESSURE: the ingest group's lag (records).")
    limit: int | None = None


class Admitted(BaseModel):
    event_id: str
    symbol: str
    partition: int
    offset: int
    duplicate: bool = Field(description="Already accepted: these are the first admission's coordinates.")
    correlation_id: str


class BatchAdmitted(BaseModel):
    accepted: int = Field(description="Events produced by this request.")
    duplicates: int
    correlation_id: str
    results: list[Admitted]


class RegimeView(BaseModel):
    symbol: str
    regime: str | None
    confidence: float | None
    engine_timestamp_ms: int
    engine_mode: str
    event_type: str
    run_id: str
    hysteresis_decision: dict[str, Any] | None
    regime_output: dict[str, Any] | None
    provenance: dict[str, Any]
    correlation_id: str
    partition: int
    offset: int
    as_of_ms: int | None = Field(None, description="With ?as_of: the time asked about (epoch ms).")
    known_at_ms: int | None = Field(None, description="With ?known_at: only decisions published by then.")
    event_id: str | None = Field(None, description="With ?as_of: the decision's event_id.")
    event_hash: str | None = Field(None, description="With ?as_of: its link on the symbol's hash chain.")
    chain_position: int | None = Field(
        None,
        description="With ?as_of: the symbol's events on regime.events before it (from the oldest kept).",
    )
    published_ms: int | None = Field(None, description="With ?as_of: its Kafka record timestamp.")


class ClientQuota(BaseModel):
    name: str = Field(description="The client the token belongs to (anonymous: no token).")
    weight: float
    events_per_s: float = Field(description="Its admission quota (0: none of its own).")
    max_streams: int = Field(description="Its SSE streams at once (0: only the api's maximum).")


class Capabilities(BaseModel):
    client: ClientQuota
    api_version: str
    engine_version: str
    engine_modes: list[str]
    engine_mode: str
    schemas: dict[str, str] = Field(description="Contract name -> schema_version.")
    topics: dict[str, str] = Field(description="Logical name -> topic name (with the fleet's prefix).")
    features: dict[str, bool]
    limits: dict[str, float]
    streams: dict[str, list[str]] = Field(description="What the SSE streams carry: event types by topic.")


class RunView(BaseModel):
    run: dict[str, Any]
    inputs: list[dict[str, Any]]
    input_hash_recomputed: str
    input_hash_matches: bool
    chain: list[dict[str, Any]]


class ChainBreak(BaseModel):
    symbol: str
    partition: int
    offset: int
    run_id: str
    event_type: str
    reason: str


class Verification(BaseModel):
    ok: bool
    events: int
    symbols: int
    first_break: ChainBreak | None


class Topology(BaseModel):
    order: list[str]
    topics: dict[str, dict[str, Any]]
    workers: dict[str, dict[str, Any]]
    services: dict[str, dict[str, list[str]]]
    edges: list[dict[str, str]]


class Status(BaseModel):
    worker: str
    lifecycle: str
    ready: bool
    regime_table: dict[str, Any]
    signal_table: dict[str, Any]
    history: dict[str, Any] = Field(
        default_factory=dict, description="The versioned histories (as-of lookups)."
    )
    ingest_lag: dict[str, Any]
    sse: dict[str, Any]
    admission: dict[str, Any]
