"""The harness's `regime-fleet` subcommands (broker, demo, bench; chaos is chaos/run.py), found
by the CLI through the `regime_fleet.commands` entry points; each imports its harness lazily."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def add_broker(sub: Any) -> None:
    b = sub.add_parser("broker", help="run a local single-node Apache Kafka (KRaft) from Maven Central")
    b.add_argument("action", choices=("up", "down", "status"))
    b.add_argument("--port", type=int, default=int(os.environ.get("KAFKA_PORT", "9092")))
    b.add_argument("--secure", action="store_true", help="SASL_SSL, SCRAM users, ACLs (docs/security.md)")
    b.set_defaults(func=cmd_broker)


def cmd_broker(args: argparse.Namespace) -> int:
    from harness.broker.local import LocalBroker
    from harness.broker.secure import SecureBroker

    broker = SecureBroker(port=args.port) if args.secure else LocalBroker(port=args.port)
    if args.action == "up":
        print(broker.up(), flush=True)
    elif args.action == "down":
        print("stopped" if broker.down() else "not running")
    else:
        print(json.dumps(broker.status()))
    return 0


def add_demo(sub: Any) -> None:
    d = sub.add_parser("demo", help="broker, topics, all workers, real S&P 500/NASDAQ data, live results")
    d.add_argument("--partitions", type=int, default=3)
    d.add_argument("--days", type=int, default=500, help="trading days per index to replay")
    d.add_argument("--window", type=int, default=60, help="bars per SnapshotInputs window")
    d.add_argument("--keep", action="store_true", help="keep the fleet and the console up until Ctrl-C")
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo.run import run_demo

    return int(run_demo(args))


def add_bench(sub: Any) -> None:
    be = sub.add_parser("bench", help="throughput and latency against the broker (writes bench/results/)")
    be.add_argument("--events", type=int, default=200_000, help="records for (a) and (b)")
    be.add_argument(
        "--quick",
        action="store_true",
        help="about a minute and a half: smaller (a) and (b), one rate, 15 s windows, no (l)",
    )
    be.add_argument("--all", action="store_true", help="also (d)-(j) and the api")
    be.add_argument(
        "--only",
        choices=(
            "ingest",
            "steady",
            "scale-out",
            "replay",
            "enricher",
            "training",
            "api",
            "asof",
            "control",
            "nautilus",
            "replays",
            "neighbours",
            "profile",
        ),
        help="run one part alone: ingest = (a) and (b), steady = (c) (BENCH_SECONDS per window, "
        "default 60; BENCH_TRACE=1 adds the per-hop breakdown), scale-out = (l), replay = (d) and "
        "(e), enricher = (g) and (h), training = (i) and (j), api = (f), asof = (m), "
        "neighbours = (o) (BENCH_NEIGHBOURS_S per phase, default 25), profile = (p) (py-spy on "
        "every worker; BENCH_WORKERS_PATH=an older checkout runs its workers)",
    )
    be.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench.run import run_bench

    return int(run_bench(args))
