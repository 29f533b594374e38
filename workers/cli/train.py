"""`regime-fleet train`: train a meta-model by hand, with a report; optionally publish it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from workers.config import load_settings


def cmd_train(args: argparse.Namespace) -> int:
    from workers.cli.models import publish_model
    from workers.meta_model.training import TrainingError, train
    from workers.runtime.reader import TopicError
    from workers.trainer import data
    from workers.trainer.report import write_report
    from workers.trainer.service import active_model

    settings = load_settings(args.config)
    version = (
        args.version or f"{settings.enricher.model_name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    )

    def progress(stage: str, done: int, total: int) -> None:
        print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        print(f"reading training data ({args.source})...", file=sys.stderr, flush=True)
        if args.source == "outcomes":
            dataset = data.from_outcomes(settings)
        elif args.source == "market.buffer":
            dataset = data.from_buffer(settings, args.from_offset, args.to_offset)
        else:
            dataset = data.from_file(settings, Path(args.source))
        print(f"{len(dataset.labels)} labelled signals; training...", file=sys.stderr, flush=True)
        active = active_model(settings) if args.publish else None
        result = train(
            settings,
            dataset,
            version=version,
            trained_ts_ms=int(time.time() * 1000),
            active=active,
            progress=progress,
        )
    except (TrainingError, TopicError) as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 1
    png = write_report(result, Path(settings.trainer.report_dir) / version)
    summary: dict[str, Any] = {
        "model_version": version,
        "status": result.record["status"],
        "rejected_because": result.report["rejected_because"],
        "validation": result.report["validation"],
        "samples": result.record["training_samples"],
        "report": str(png),
    }
    if args.publish:
        record = result.record
        key = (
            record["model_name"]
            if record["status"] == "live"
            else f"{record['model_name']}:rejected:{version}"
        )
        summary["published_to_partitions"] = len(publish_model(settings, record, key=key))
    print(json.dumps(summary, indent=2, default=str))
    return 0


def add_parser(sub: Any) -> None:
    t = sub.add_parser(
        "train", help="train a meta-model (purged walk-forward CV, report PNG + JSON), optionally publish it"
    )
    t.add_argument(
        "--source",
        default="outcomes",
        help="outcomes (live labels joined with signals.enriched), market.buffer (bars with the "
        "reference strategy's signals), or a file: JSON lines of BAR events or CSV "
        "symbol,ts_ms,open,high,low,close,volume",
    )
    t.add_argument("--from-offset", type=int, help="with market.buffer: first offset (every partition)")
    t.add_argument("--to-offset", type=int, help="with market.buffer: last offset")
    t.add_argument("--version", help="model_version (default: <model name>-<UTC time>)")
    t.add_argument(
        "--publish", action="store_true", help="publish to `models` (live, or rejected by the gate)"
    )
    t.set_defaults(func=cmd_train)
