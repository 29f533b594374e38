"""`replay --topic models.metrics`: re-run the labeler over its input topics, in memory, and
compare each model version's live scores per partition, byte for byte, with the last record the
labeler published for it (what the compacted topic keeps).

The labeler keeps every window in the order of its outcomes' event time (workers/labeler/
shadow.py), so its last scores do not depend on how its four inputs interleaved when it read
them; the replay feeds each partition's inputs merged by record timestamp, each topic in its own
order, which is close to how they were read live. What it needs: the input topics still hold
what the labeler read from the start (retention), and no shadow score waited for more than
`RESOLVED_KEPT` later outcomes of its symbol.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator

from workers.config import FleetSettings
from workers.contracts import Serde
from workers.replay.compare import diff, single_object
from workers.replay.driver import ReplayDriver
from workers.replay.pipeline import feed_stored
from workers.replay.report import ReplayReport
from workers.runtime.reader import Stored, TopicError, read_all
from workers.topics import METRICS
from workers.topology import load_topology

Key = tuple[str, int]  # (model version, partition)


def replay_metrics(
    settings: FleetSettings, *, progress: Callable[[int, int], None] | None = None
) -> ReplayReport:
    topology = load_topology(settings.partitions)
    serde = Serde()
    published: dict[Key, bytes] = {}
    for s in read_all(settings, METRICS, "ModelMetrics", progress=progress, skip_undecodable=True):
        key = (s.value["model_version"], s.value["partition"])
        published[key] = single_object(serde, "ModelMetrics", s)  # the last one counts
    if not published:
        raise TopicError(f"{settings.topic(METRICS)} holds no live scores to replay")
    started = time.monotonic()
    inputs: dict[str, list[Stored]] = {}
    for topic in topology.worker("labeler").inputs:
        schema = topology.topics[topic].value_schema
        assert schema is not None
        inputs[topic] = list(read_all(settings, topic, schema, progress=progress, skip_undecodable=True))
    driver = ReplayDriver.for_replay(settings, topology, ["labeler"])
    for topic, stored in _merged(inputs, settings.partitions):
        feed_stored(driver, topic, stored)
    replayed: dict[Key, bytes] = {}
    for out in driver.received(METRICS):
        value = out.value
        if isinstance(value, dict):
            replayed[(value["model_version"], value["partition"])] = serde.encode("ModelMetrics", value)
    report = ReplayReport()
    for key in sorted(published.keys() | replayed.keys()):
        report.events += 1
        ref = {"model_version": key[0], "partition": key[1]}
        mine, theirs = replayed.get(key), published.get(key)
        if theirs is None:
            report.extra += 1
            report.first_divergence = report.first_divergence or {**ref, "reason": "never published"}
        elif mine is None:
            report.missing += 1
            report.first_divergence = report.first_divergence or {**ref, "reason": "not scored on replay"}
        elif mine == theirs:
            report.compared(ref, {})
        else:
            fields = diff(serde.decode("ModelMetrics", theirs), serde.decode("ModelMetrics", mine))
            report.compared(ref, fields or {"bytes": [theirs.hex(), mine.hex()]})
    report.runs = report.events
    report.seconds = time.monotonic() - started
    return report


def _merged(inputs: dict[str, list[Stored]], partitions: int) -> Iterator[tuple[str, Stored]]:
    """Each partition's records of every input, by timestamp, each topic in its own order."""
    for partition in range(partitions):
        streams = [
            [(s.timestamp_ms, rank, s.offset, topic, s) for s in stored if s.partition == partition]
            for rank, (topic, stored) in enumerate(inputs.items())
        ]
        for _, _, _, topic, s in heapq.merge(*streams, key=lambda e: e[:3]):
            yield topic, s
