"""`replay --topic signals.enriched|signals.shadow`: recompute every enriched signal (and every
challenger's shadow score of it) and compare field by field.

Each enriched signal records where its partition's inputs stood when it was scored: the last
offsets seen on market.buffer, regime.events and models, and its own signal offset. The
replay runs the enricher core on the in-memory driver, partition by partition, feeding each
input up to exactly those offsets before the signal, so the core sees what the live one saw;
nothing is written to the live fleet. Everything but `enriched_at_ms` must be equal.

A challenger's ShadowScore carries no positions of its own: it was written with its signal's
enriched event, in the same call of the core, so `--topic signals.shadow` replays the same
signals and compares each published score byte for byte with the one the replay wrote beside
the replayed event (a promotion on `models` is an input at a recorded position like any other).

The input topics must still hold what the enricher read from the start (retention): a replay
that starts later than the live state did reports divergences, not a match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.replay.compare import diff, single_object
from workers.replay.driver import ReplayDriver
from workers.replay.pipeline import feed_stored
from workers.replay.report import ReplayReport
from workers.runtime.commands import halt_at, halted
from workers.runtime.control import read_commands
from workers.runtime.reader import Stored, TopicError, read_all
from workers.topics import BUFFER, ENRICHED, EVENTS, MODELS, SHADOW, SIGNALS
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
    commands = read_commands(settings)  # the operators' halts, as the live fleet recorded them
    report = ReplayReport()
    started = time.monotonic()
    serde = Serde()
    for original, replayed, _ in _replayed(settings, progress):
        if symbol is not None and original["signal"]["symbol"] != symbol:
            continue
        report.events += 1
        ref = {"signal_id": original["signal"]["signal_id"], "symbol": original["signal"]["symbol"]}
        if replayed is None:
            report.missing += 1
            report.first_divergence = report.first_divergence or {**ref, "reason": "not enriched on replay"}
            continue
        # The runtime's kill switch, as of when the live enricher scored the signal.
        halt = halt_at(commands, original["enriched_at_ms"], original["signal"]["symbol"])
        if halt is not None or "halted" in original:  # records of older schemas lack it
            replayed = halted(replayed, halt)
        # As it would have been written: fields the core leaves out take their contract default.
        replayed = serde.decode("EnrichedSignalEvent", serde.encode("EnrichedSignalEvent", replayed))
        report.compared(ref, diff(original, replayed, IGNORED))
    report.runs = report.events
    report.seconds = time.monotonic() - started
    return report


def replay_shadow(
    settings: FleetSettings,
    *,
    symbol: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Every published ShadowScore against the one the replay wrote for its signal, byte for
    byte (a score published for a signal the replay did not shadow is missing; one the replay
    wrote that was never published is extra)."""
    started = time.monotonic()
    serde = Serde()
    published: dict[tuple[int, int, str], bytes] = {}
    for s in read_all(settings, SHADOW, "ShadowScore", progress=progress, skip_undecodable=True):
        v = s.value
        if symbol is None or v["symbol"] == symbol:
            key = (v["signal_partition"], v["signal_offset"], v["model_version"])
            published[key] = single_object(serde, "ShadowScore", s)
    if not published:
        raise TopicError(f"{settings.topic(SHADOW)} holds no shadow scores to replay")
    report = ReplayReport()
    for original, _, scores in _replayed(settings, progress):
        if symbol is not None and original["signal"]["symbol"] != symbol:
            continue
        for score in scores:
            report.events += 1
            key = (score["signal_partition"], score["signal_offset"], score["model_version"])
            ref = {"signal_id": score["signal_id"], "symbol": score["symbol"], "model_version": key[2]}
            found = published.pop(key, None)
            if found is None:
                report.extra += 1
                report.first_divergence = report.first_divergence or {**ref, "reason": "never published"}
                continue
            mine = serde.encode("ShadowScore", score)
            fields: dict[str, list[Any]] = {}
            if mine != found:
                fields = diff(serde.decode("ShadowScore", found), serde.decode("ShadowScore", mine))
                fields = fields or {"bytes": [found.hex(), mine.hex()]}
            report.compared(ref, fields)
    report.missing += len(published)
    if published and report.first_divergence is None:
        partition, offset, version = next(iter(published))
        report.first_divergence = {
            "signal_partition": partition,
            "signal_offset": offset,
            "model_version": version,
            "reason": "not shadowed on replay",
        }
    report.runs = report.events
    report.seconds = time.monotonic() - started
    return report


Replayed = tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]


def _replayed(settings: FleetSettings, progress: Callable[[int, int], None] | None) -> Iterator[Replayed]:
    """(published event, the replay's event or None, the replay's shadow scores of it) for
    every published enriched signal, partition by partition in signal order."""
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
    for partition in sorted({v["provenance"]["signal_partition"] for v in published}):
        mine = sorted(
            (v for v in published if v["provenance"]["signal_partition"] == partition),
            key=lambda v: v["provenance"]["signal_offset"],
        )
        partition_inputs = {
            t: [s for s in stored if s.partition == partition] for t, stored in inputs.items()
        }
        replayed = _replay_partition(settings, topology, mine, signals, partition_inputs)
        for original, (event, scores) in zip(mine, replayed, strict=True):
            yield original, event, scores


def _replay_partition(
    settings: FleetSettings,
    topology: Topology,
    published: list[dict[str, Any]],
    signals: dict[tuple[int, int], Stored],
    inputs: dict[str, list[Stored]],
) -> Iterator[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
    """The replayed event for each published one, in order (None: the core did not enrich it),
    with the shadow scores the core wrote beside it."""
    driver = ReplayDriver.for_replay(settings, topology, ["enricher"])
    cursors = dict.fromkeys(inputs, 0)
    out, shadows = driver.received(ENRICHED), driver.received(SHADOW)
    for original in published:
        provenance = original["provenance"]
        for topic, stored in inputs.items():
            upto = provenance[POSITIONED[topic]]
            while cursors[topic] < len(stored) and stored[cursors[topic]].offset <= upto:
                feed_stored(driver, topic, stored[cursors[topic]])
                cursors[topic] += 1
        signal = signals.get((provenance["signal_partition"], provenance["signal_offset"]))
        if signal is None:
            yield None, []
            continue
        before, scored = len(out), len(shadows)
        feed_stored(driver, SIGNALS, signal)
        event = dict(out[-1].value) if len(out) > before and isinstance(out[-1].value, dict) else None
        yield event, [dict(s.value) for s in shadows[scored:] if isinstance(s.value, dict)]
