"""The bridge's own metrics (docs/metrics.md, docs/nautilus.md), beside the shared WorkerMetrics
in one registry so /metrics serves both."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BridgeMetrics:
    """Entries read/acked/dead-lettered, records delivered, Kafka -> XADD lag, Redis state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter(
            "regime_fleet_bridge_entries",
            "Nautilus stream entries by outcome (read, acked, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.delivered = Counter(
            "regime_fleet_bridge_delivered",
            "Kafka records written to the Nautilus stream, by type (RegimeDecision, EnrichedSignal).",
            ["type"],
            registry=registry,
        )
        self.delivery_lag = Histogram(
            "regime_fleet_bridge_delivery_lag_seconds",
            "Kafka record timestamp (at or before its commit) to the EXEC of its XADD.",
            [],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )
        self.redis_connected = Gauge(
            "regime_fleet_bridge_redis_connected",
            "1 while the bridge's last Redis call succeeded.",
            [],
            registry=registry,
        )
        self.snapshots = Counter(
            "regime_fleet_bridge_snapshots", "Snapshot requests answered.", [], registry=registry
        )
