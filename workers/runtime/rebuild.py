"""Rebuilding a partition's stores from the worker's own input topics.

Every store is a deterministic function of its worker's inputs, so a corrupt or missing
changelog record, a deleted or recreated changelog, or a local store that disagrees with its
changelog is healed the same way: read the partition's inputs from their first offset up to
the group's committed offset, re-run the processor over them in memory (MemoryStore, outputs
discarded), check the result against what of the changelog is readable, write it as the
committed store and leave what the changelog lacks pending for the next checkpoint. The
worker stays not ready meanwhile (`rebuilding` on /status, with progress). When the inputs no
longer hold every record since the partition's first offset, or the rebuilt state disagrees
with a readable changelog record, the partition cannot be healed: RebuildImpossible, and the
worker stays degraded saying exactly that (docs/runbooks/RegimeFleetStoreRebuild.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from workers import clients
from workers.processing import Processor, Record, StoreCorruption, StoreError, Unavailable
from workers.runtime.context import RuntimeContext
from workers.runtime.decoding import Decoder
from workers.runtime.stores import AssignedStores
from workers.state import StoreView
from workers.state.changelog import Latest, latest
from workers.state.memory import MemoryStore

COMMIT_EVERY = 1000  # records between applying the in-memory views (bounded pending state)
PROGRESS_EVERY = 500


class RebuildImpossible(StoreCorruption):
    """The partition's stores cannot be rebuilt: inputs gone, or the rebuild disagrees with
    its changelog. Says which topic, partition, offsets or keys."""


class RebuildInterrupted(StoreError):
    """A rebuild that could not read its inputs this time (broker, timeout): tried again."""


@dataclass
class Reconciled:
    """A rebuilt store against its changelog: what the changelog needs written (key -> value,
    None a tombstone) and the readable keys whose newest value differs from the rebuild."""

    heal: dict[str, Any] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)


def unrebuildable(processor: Processor, inputs: tuple[str, ...] | list[str]) -> str | None:
    """Why replaying the inputs would not reproduce this core's stores (None: it would)."""
    if len(inputs) > 1:
        return (
            f"its stores depend on how its {len(inputs)} inputs ({', '.join(inputs)}) interleaved live, "
            "which the log does not record"
        )
    if processor.punctuate_interval_ms > 0:
        return (
            f"its core changes state on wall-clock ticks (punctuate every {processor.punctuate_interval_ms} ms), "
            "which the log does not record"
        )
    return None


def replay(
    processor: Processor,
    partition: int,
    records: Iterable[Record],
    progress: Callable[[int], None] = lambda n: None,
) -> dict[str, dict[str, Any]]:
    """Run `processor` over one partition's records with in-memory stores, as the runtime does
    (a record it raises on leaves no change, its outputs are discarded); store -> key -> value."""
    memory = {name: MemoryStore(codec) for name, codec in processor.stores.items()}
    views = {name: StoreView(store) for name, store in memory.items()}
    processor.assigned([partition])
    n = 0
    for n, record in enumerate(records, start=1):
        for view in views.values():
            view.begin_record()
        try:
            processor.process(record, views, record.timestamp_ms)
        except Unavailable:
            raise
        except Exception:  # dead-lettered live too: its writes never reached the store
            for view in views.values():
                view.rollback_record()
        if n % COMMIT_EVERY == 0:
            for name, view in views.items():
                memory[name].commit(view)
        if n % PROGRESS_EVERY == 0:
            progress(n)
    for name, view in views.items():
        memory[name].commit(view)
    progress(n)
    processor.assigned([partition])  # the live run starts from the restored stores, not from here
    return {name: dict(store.items()) for name, store in memory.items()}


def reconcile(rebuilt: Mapping[str, Any], readable: Latest) -> Reconciled:
    """Keys whose newest changelog record is corrupt, missing or a tombstone are healed with the
    rebuilt value; a corrupt key the rebuild does not hold gets a tombstone; a readable value
    that differs from the rebuild (or that the rebuild lacks) is a mismatch."""
    out = Reconciled()
    for key, value in rebuilt.items():
        held = readable.values.get(key)
        if key in readable.corrupt or held is None:
            out.heal[key] = value
        elif held != value:
            out.mismatched.append(key)
    for key in readable.corrupt:
        if key not in rebuilt:
            out.heal[key] = None
    out.mismatched += sorted(k for k, v in readable.values.items() if v is not None and k not in rebuilt)
    return out


def read_inputs(
    ctx: RuntimeContext,
    reader: Consumer,
    partition: int,
    upto: Mapping[str, int],
    *,
    timeout_s: float,
    progress: Callable[[int, int], None] = lambda n, total: None,
) -> list[Record]:
    """The partition's input records below the committed offsets (physical topic -> offset),
    decoded; several inputs merged by timestamp (then input order, then offset)."""
    decoder = Decoder(ctx)
    wanted = {t: o for t, o in upto.items() if o > 0}
    for topic, end in wanted.items():
        low, _ = clients.watermarks(reader, topic, partition, 10)
        if low > 0:
            raise RebuildImpossible(
                f"{topic}[{partition}] starts at offset {low}: the stores need every record from 0 "
                f"to the committed offset {end}, and retention removed them"
            )
    total = sum(wanted.values())
    records: list[tuple[int, int, int, Record]] = []
    deadline = time.monotonic() + timeout_s
    order = {t: i for i, t in enumerate(upto)}
    for topic, end in wanted.items():
        reader.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        try:
            while reader.position([TopicPartition(topic, partition)])[0].offset < end:
                if time.monotonic() > deadline:
                    raise RebuildInterrupted(f"reading {topic}[{partition}] took more than {timeout_s} s")
                for msg in reader.consume(num_messages=1000, timeout=0.05):  # see state/changelog.py
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise RebuildInterrupted(f"reading {topic}[{partition}]: {err}")
                    if msg.offset() >= end:
                        continue
                    decoded = decoder.decode(msg)
                    if isinstance(decoded, Record):  # undecodable records were dead-lettered live
                        records.append((decoded.timestamp_ms, order[topic], decoded.offset, decoded))
                progress(len(records), total)
        except KafkaException as exc:
            raise RebuildInterrupted(f"reading {topic}[{partition}]: {exc}") from exc
        finally:
            reader.unassign()
    if len(wanted) > 1:
        records.sort(key=lambda r: r[:3])
    return [r[3] for r in records]


def rebuild(
    ctx: RuntimeContext,
    processor: Processor,
    stores: AssignedStores,
    partition: int,
    reader: Consumer,
    upto: Mapping[str, int],
    *,
    skip_from: int | None,
    cause: str,
) -> str:
    """Rebuild every store of `partition` from the inputs up to `upto` (physical topic ->
    committed offset), not ready meanwhile; what was done, in one line (for /status)."""
    readiness, started = ctx.readiness, time.monotonic()
    names = ", ".join(stores.changelog(s) for s in stores.names)
    refused = unrebuildable(processor, ctx.spec.inputs)
    if refused is not None:
        raise RebuildImpossible(f"{cause}; {names}[{partition}] cannot be rebuilt from its inputs: {refused}")
    head = f"rebuilding {names}[{partition}] from {', '.join(upto)} up to {dict(upto)} ({cause})"

    def reading(n: int, total: int) -> None:
        readiness.block("rebuilding", f"{head}: read {n} of at most {total} input records")
        ctx.status.last_poll_monotonic = time.monotonic()

    def replaying(n: int, total: int) -> None:
        readiness.block("rebuilding", f"{head}: replayed {n} of {total} input records")
        ctx.status.last_poll_monotonic = time.monotonic()

    readable = {
        store: latest(
            stores.codecs[store],
            reader,
            stores.changelog(store),
            partition,
            skip_source_offsets_from=skip_from,
        )
        for store in stores.names
    }
    upto = dict(upto)
    if not ctx.eos:  # at-least-once: the changelog may reflect input past the committed offset
        first = next(iter(upto))
        sources = [r.source for r in readable.values() if r.source is not None]
        upto[first] = max([upto[first], *(s + 1 for s in sources)])
    reading(0, sum(upto.values()))
    ctx.log.warning("store_rebuild_started", partition=partition, cause=cause, upto=upto)
    timeout = ctx.settings.runtime.rebuild_timeout_s
    try:
        records = read_inputs(ctx, reader, partition, upto, timeout_s=timeout, progress=reading)
        state = replay(processor, partition, records, lambda n: replaying(n, len(records)))
    except Unavailable as exc:
        readiness.unblock("rebuilding")
        raise RebuildInterrupted(f"replaying {names}[{partition}]: {exc}") from exc
    except Exception:
        readiness.unblock("rebuilding")  # opening says why it waits; degraded says why it stopped
        raise

    healed: list[str] = []
    source = max((r.offset for r in records if r.topic == ctx.spec.inputs[0]), default=None)
    for store in stores.names:
        topic = stores.changelog(store)
        verdict = reconcile(state[store], readable[store])
        if verdict.mismatched:
            readiness.unblock("rebuilding")
            shown = ", ".join(verdict.mismatched[:5])
            raise RebuildImpossible(
                f"{topic}[{partition}]: the store rebuilt from {', '.join(upto)} disagrees with its "
                f"readable changelog at {len(verdict.mismatched)} key(s): {shown}"
            )
        stores.replace(
            partition,
            store,
            state[store],
            verdict.heal,
            changelog_offset=readable[store].high - 1 if readable[store].high > 0 else None,
            source_offset=source,
        )
        healed += [f"{topic}:{key}" for key in sorted(verdict.heal)]
    readiness.unblock("rebuilding")
    seconds = time.monotonic() - started
    summary = (
        f"rebuilt {names}[{partition}] from {len(records)} input records up to {dict(upto)} in "
        f"{seconds:.1f} s after {cause}; {sum(len(v) for v in state.values())} keys, checked against the "
        f"readable changelog; rewriting {len(healed)}: {', '.join(healed[:8])}"
    )
    ctx.log.warning(
        "store_rebuilt", partition=partition, records=len(records), seconds=round(seconds, 3), healed=healed
    )
    return summary
