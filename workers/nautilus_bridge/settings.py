"""The Nautilus bridge's settings section (`nautilus:`, the service's topology name). Not recorded on fleet.config:
the bridge moves records between Kafka and Redis and never changes what the fleet publishes."""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from pydantic import Field

from workers.retry import RetryPolicy
from workers.section import Section


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class NautilusBridgeSettings(Section):
    """Redis, the Nautilus nodes' stream keys, batches, retention and the Redis retry backoff."""

    recorded: ClassVar[bool] = False

    redis_url: str = Field(default_factory=_redis_url, description="Default: REDIS_URL, else 127.0.0.1:6379.")
    trader_ids: list[str] = Field(
        default_factory=lambda: ["TRADER-001"],
        description="Nodes whose TradingSignal and SnapshotRequest streams the bridge reads.",
    )
    streams_prefix: str = Field("stream", description="The nodes' MessageBusConfig.streams_prefix.")
    delivery_stream: str = Field(
        "regime-fleet:stream",
        description="Where decisions and enriched signals go (a node's external_streams).",
    )
    key_prefix: str = Field(
        "regime-fleet:bridge", description="The bridge's own keys: offsets, latest decisions."
    )
    consumer_group: str = Field("regime-fleet", description="The Redis consumer group on the signal streams.")
    encoding: Literal["msgpack", "json"] = Field(
        "msgpack", description="The nodes' MessageBusConfig.encoding."
    )
    retention_ms: int = Field(
        86_400_000, ge=60_000, description="Entries older than this are trimmed (MINID)."
    )
    batch_size: int = Field(2000, ge=1, le=10_000, description="Entries or records per transaction.")
    block_ms: int = Field(20, ge=1, le=1000, description="XREADGROUP BLOCK: the longest an idle read waits.")
    poll_timeout_ms: int = Field(
        20, ge=1, le=1000, description="The Kafka consume wait when nothing is fetched."
    )
    redis_timeout_s: float = Field(2.0, gt=0, le=30, description="Socket timeout of every Redis call.")
    redis_retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(
            backoff="exponential", max_attempts=1000, base_delay_s=0.1, max_delay_s=5.0
        ),
        description="The backoff between reconnects while Redis is unavailable (attempts are not bounded).",
    )
