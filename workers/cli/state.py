"""`regime-fleet state rebuild --worker W [--partition P] [--apply]`: rebuild a worker's stores
from its input topics on demand (workers/runtime/rebuild.py, the same code a worker runs when
it finds a corrupt or missing changelog) and check them against their changelogs.

Without --apply it only reads and reports, one JSON line per (partition, store). With --apply,
and only while the worker's group has no members, it writes the rebuilt value of every key the
changelog has corrupt, missing or different to the changelog: the worker restores it on start.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from workers import clients
from workers.config import FleetSettings, load_settings
from workers.state.changelog import SOURCE_OFFSET_HEADER, latest
from workers.topology import load_topology


def cmd_state(args: argparse.Namespace) -> int:
    from workers.runtime.app import build_worker
    from workers.runtime.rebuild import RebuildImpossible, read_inputs, reconcile, replay, unrebuildable

    settings = load_settings(args.config)
    topology = load_topology(settings.partitions)
    process = build_worker(args.worker, settings, topology)
    worker, ctx = process.worker, process.ctx
    if not worker.stores.names:
        print(f"regime-fleet: {args.worker} has no stores", file=sys.stderr)
        return 0
    refused = unrebuildable(worker.processor, ctx.spec.inputs)
    if refused is not None:
        print(f"regime-fleet: {args.worker} cannot be rebuilt from its inputs: {refused}", file=sys.stderr)
        return 2
    if args.apply and _members(settings, ctx.group):
        print(f"regime-fleet: error: {ctx.group} has live members: stop {args.worker} first", file=sys.stderr)
        return 2
    partitions = [args.partition] if args.partition is not None else list(range(settings.partitions))
    inputs = [settings.topic(t) for t in ctx.spec.inputs]
    group = Consumer(clients.consumer_config(settings, ctx.group))
    reader = Consumer(clients.reader_config(settings))
    producer = Producer(clients.producer_config(settings, None)) if args.apply else None
    differs = False
    try:
        for p in partitions:
            committed = group.committed([TopicPartition(t, p) for t in inputs], timeout=10)
            upto = {tp.topic: max(tp.offset, 0) for tp in committed}
            try:
                records = read_inputs(ctx, reader, p, upto, timeout_s=settings.runtime.rebuild_timeout_s)
            except RebuildImpossible as exc:
                print(json.dumps({"partition": p, "error": str(exc)}))
                return 2
            state = replay(worker.processor, p, records)
            source = max((r.offset for r in records if r.topic == ctx.spec.inputs[0]), default=None)
            for store in worker.stores.names:
                topic = worker.stores.changelog(store)
                codec = worker.stores.codecs[store]
                skip = upto[inputs[0]] if ctx.eos and upto[inputs[0]] > 0 else None
                verdict = reconcile(
                    state[store], latest(codec, reader, topic, p, skip_source_offsets_from=skip)
                )
                writes = {**verdict.heal, **{k: state[store].get(k) for k in verdict.mismatched}}
                differs = differs or bool(writes)
                print(
                    json.dumps(
                        _report(p, store, upto, len(records), state[store], verdict.heal, verdict.mismatched)
                    )
                )
                if producer is not None:
                    headers = [(SOURCE_OFFSET_HEADER, str(source).encode())] if source is not None else []
                    for key, value in writes.items():
                        encoded = None if value is None else codec.encode(value)
                        producer.produce(topic, encoded, key.encode(), partition=p, headers=headers)
        if producer is not None and producer.flush(30) > 0:
            print("regime-fleet: error: changelog writes not delivered within 30 s", file=sys.stderr)
            return 1
    finally:
        group.close()
        reader.close()
        process.close()
    return 1 if differs and not args.apply else 0


def _report(
    p: int,
    store: str,
    upto: dict[str, int],
    records: int,
    state: dict[str, Any],
    heal: dict[str, Any],
    bad: list[str],
) -> dict[str, Any]:
    return {
        "partition": p,
        "store": store,
        "inputs_up_to": upto,
        "input_records": records,
        "keys": len(state),
        "corrupt_or_missing": sorted(heal),
        "mismatched": bad,
    }


def _members(settings: FleetSettings, group: str) -> int:
    admin = AdminClient(clients.base_config(settings))
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    return len(described.members)


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "state",
        help="rebuild a worker's stores from its input topics and check them against their changelogs",
    )
    s.add_argument("action", choices=("rebuild",))
    s.add_argument("--worker", required=True)
    s.add_argument("--partition", type=int, help="one partition (default: all)")
    s.add_argument(
        "--apply",
        action="store_true",
        help="write the rebuilt values the changelog lacks or contradicts (the worker must be stopped)",
    )
    s.set_defaults(func=cmd_state)
