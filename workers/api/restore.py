"""The versioned histories restored straight from regime.events and signals.enriched: what
`regime-fleet asof` and the library's `load_histories` answer from (the api's tails fold the
same records through the same functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer

from workers import clients
from workers.config import FleetSettings
from workers.runtime.reader import read_all
from workers.topics import ENRICHED, EVENTS

from .history import VersionedTable, fold_regime_event, fold_signal

Fold = Callable[[VersionedTable, Mapping[str, Any], int, int, int, bool], None]
SOURCES: dict[str, tuple[str, str, Fold]] = {
    "regime": (EVENTS, "OrchestratorEvent", fold_regime_event),
    "signal": (ENRICHED, "EnrichedSignalEvent", fold_signal),
}


def truncated_partitions(settings: FleetSettings, topic: str) -> set[int]:
    """Partitions whose oldest records retention (or deletion) already removed."""
    consumer = Consumer(clients.reader_config(settings))
    try:
        name = settings.topic(topic)
        meta = consumer.list_topics(name, timeout=10).topics.get(name)
        if meta is None:
            return set()
        return {p for p in meta.partitions if clients.watermarks(consumer, name, p, 10)[0] > 0}
    finally:
        consumer.close()


def load_histories(
    settings: FleetSettings, kinds: tuple[str, ...] = ("regime", "signal"), retention_ms: int = 0
) -> dict[str, VersionedTable]:
    """Each kind's history, read from its topic's oldest kept record to its end."""
    out = {}
    for kind in kinds:
        topic, schema, fold = SOURCES[kind]
        table = VersionedTable(retention_ms)
        cut = truncated_partitions(settings, topic)
        for stored in read_all(settings, topic, schema, skip_undecodable=True):
            fold(
                table,
                stored.value,
                stored.partition,
                stored.offset,
                stored.timestamp_ms,
                stored.partition in cut,
            )
        out[kind] = table
    return out
