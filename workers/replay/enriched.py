"""`replay --topic signals.enriched`: recompute every enriched signal and compare field by field.

Each enriched signal records where its partition's inputs stood when it was scored: the last
offsets seen on market.buffer, regime.events and models, and its own signal offset. The
replay runs the enricher core on the in-memory driver, partition by partition, feeding each
input up to exactly those offsets before the signal, so the core sees what the live one saw;
nothing is written to the live fleet. Everything but `enriched_at_ms` must be equal.

The input topics must still hold what the enricher read from the start (retention): a replay
that starts later than the live state did reports divergences, not a match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.replay.compare import diff
from workers.replay.driver import ReplayDriver
from workers.replay.pipeline import feed_stored
from workers.replay.report import ReplayReport
from workers.runtime.commands import halt_at, halted
from workers.runtime.control import read_commands
from workers.runtime.reader import Stored, TopicError, read_all
from workers.topics import BUFFER, ENRICHED, EVENTS, MODELS, SIGNALS
from workers.topology import Topology, load_topology

# Each input the signal's provenance positions, and that position's field.
POSITIONED = {BUFFER: "buffer_offset", EVENTS: "regime_offset", MODELS: "models_offset"}
IGNORED = frozenset({"enriched_at_ms"})


def replay_enriched(
    settings: FleetSettings,
    *,
    symbol: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    topology = load_topology(settings.partitions)

    def read(topic: str) -> list[Stored]:
        schema = topology.topics[topic].value_schema
        assert schema is not None
        return list(read_all(settings, topic, schema, progress=progress, skip_undecodable=True))

    published = [s.value for s in read(ENRICHED) if s.value.get("provenance")]
    if not published:
        raise TopicError(f"{settings.topic(ENRICHED)} holds no enriched signals with provenance")
    signals = {(s.partition, s.offset): s for s in read(SIGNALS)}
    inputs = {topic: read(topic) for topic in POSITIONED}
    commands = read_commands(settings)  # the operators' halts, as the live fleet recorded them
    report = ReplayReport()
    started = time.monotonic()
    for partition in sorted({v["provenance"]["signal_partition"] for v in published}):
        mine = sorted(
            (v for v in published if v["provenance"]["signal_partition"] == partition),
            key=lambda v: v["provenance"]["signal_offset"],
        )
        serde = Serde()
        partition_inputs = {
            t: [s for s in stored if s.partition == partition] for t, stored in inputs.items()
        }
        for original, replayed in zip(
            mine, _replay_partition(settings, topology, mine, signals, partition_inputs), strict=True
        ):
            if symbol is not None and original["signal"]["symbol"] != symbol:
                continue
            report.events += 1
            ref = {"signal_id": original["signal"]["signal_id"], "symbol": original["signal"]["symbol"]}
            if replayed is None:
                report.missing += 1
                report.first_divergence = report.first_divergence or {
                    **ref,
                    "reason": "not enriched on replay",
                }
                continue
            # The runtime's kill switch, as of when the live enricher scored the signal.
            halt = halt_at(commands, original["enriched_at_ms"], original["signal"]["symbol"])
            if halt is not None or "halted" in original:  # records of older schemas lack it
                replayed = halted(replayed, halt)
            # As it would have been written: fields the core leaves out take their contract default.
            replayed = serde.decode("EnrichedSignalEvent", serde.encode("EnrichedSignalEvent", replayed))
            fields = diff(original, replayed, IGNORED)
            if fields:
                report.mismatched += 1
                for path in fields:
                    report.diverging_fields[path] = report.diverging_fields.get(path, 0) + 1
                report.first_divergence = report.first_divergence or {**ref, "fields": fields}
            else:
                report.matched += 1
    report.runs = report.events
    report.seconds = time.monotonic() - started
    return report


def _replay_partition(
    settings: FleetSettings,
    topology: Topology,
    published: list[dict[str, Any]],
    signals: dict[tuple[int, int], Stored],
    inputs: dict[str, list[Stored]],
) -> Iterator[dict[str, Any] | None]:
    """The replayed event for each published one, in order (None: the core did not enrich it)."""
    driver = ReplayDriver.for_replay(settings, topology, ["enricher"])
    cursors = dict.fromkeys(inputs, 0)
    out = driver.received(ENRICHED)
    for original in published:
        provenance = original["provenance"]
        for topic, stored in inputs.items():
            upto = provenance[POSITIONED[topic]]
            while cursors[topic] < len(stored) and stored[cursors[topic]].offset <= upto:
                feed_stored(driver, topic, stored[cursors[topic]])
                cursors[topic] += 1
        signal = signals.get((provenance["signal_partition"], provenance["signal_offset"]))
        if signal is None:
            yield None
            continue
        before = len(out)
        feed_stored(driver, SIGNALS, signal)
        yield dict(out[-1].value) if len(out) > before and isinstance(out[-1].value, dict) else None
