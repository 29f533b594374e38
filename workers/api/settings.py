"""The api's settings section (`api:`, docs/api.md): HTTP admission, lookups and SSE streams.
Not recorded on fleet.config: it changes how clients are served, not what the fleet publishes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from workers.section import Section


class ApiClient(BaseModel):
    """One client of the api (fair admission): its token, its weight, its quotas."""

    token: SecretStr = Field(description="Its bearer token (never logged).")
    weight: float = Field(
        1.0, gt=0, description="Its share of admission under contention, relative to others."
    )
    events_per_s: float = Field(
        0.0, ge=0, description="Events it may admit per second (0: no quota of its own)."
    )
    max_streams: int = Field(
        0, ge=0, description="SSE streams it may hold open (0: only api.max_sse_clients)."
    )


class ApiSettings(Section):
    """The api worker (workers/api, docs/api.md): HTTP admission, lookups and SSE streams."""

    recorded: ClassVar[bool] = False

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port.")
    tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens of write endpoints (JSON list; never logged)."
    )
    tokens_file: Path | None = Field(None, description="A mounted Secret: one more token per line.")
    protect_reads: bool = Field(False, description="Read endpoints need a token too.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins ('*': any).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies answer 413.")
    max_batch_events: int = Field(1000, ge=1)
    ingest_lag_limit: int = Field(
        100_000,
        ge=0,
        description="429 while ingest lags more records on market.raw; resume at half (0: off).",
    )
    lag_interval_s: float = Field(0.5, gt=0, description="How often the ingest lag is measured.")
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a 429.")
    dedupe_window: int = Field(100_000, ge=0, description="(symbol, event_id) admissions remembered.")
    sse_queue_size: int = Field(1000, ge=1, description="Events queued per SSE client before it is dropped.")
    sse_history: int = Field(5000, ge=0, description="Recent events per partition kept for resumption.")
    sse_heartbeat_s: float = Field(15.0, gt=0)
    sse_send_timeout_s: float = Field(
        10.0, gt=0, description="A client that takes longer to read is dropped."
    )
    max_sse_clients: int = Field(1000, ge=1)
    asof_retention_ms: int = Field(
        2_592_000_000,
        ge=0,
        description="Event time kept per symbol for as-of lookups behind its latest version (0: all "
        "the topics hold); older questions answer 410 BEYOND_RETENTION.",
    )
    clients: dict[str, ApiClient] = Field(
        default_factory=dict,
        description="Named clients with a token, a weight and quotas (REGIME_FLEET_API__CLIENTS as JSON); "
        "api.tokens belong to the client 'default' (weight 1, no quotas).",
    )
    fair_share_from: float = Field(
        0.5, ge=0, le=1, description="Shares are enforced once the ingest lag reaches this part of its limit."
    )
    admission_window_s: float = Field(5.0, gt=0, description="Admitted events are counted over this window.")
    lookup_timeout_s: float = Field(60.0, gt=0, description="Bound on /v1/runs and /v1/provenance reads.")
