"""`regime-fleet train`: train a meta-model by hand, with a report; optionally publish it (the
args and the printing; the job is workers/trainer/by_hand.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from workers.config import load_settings
from workers.enricher.settings import EnricherSettings


def cmd_train(args: argparse.Namespace) -> int:
    from workers.meta_model.training import TrainingError
    from workers.runtime.reader import TopicError
    from workers.trainer.by_hand import train_once

    settings = load_settings(args.config)
    version = (
        args.version
        or f"{EnricherSettings.of(settings).model_name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def progress(stage: str, done: int, total: int) -> None:
        print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        summary = train_once(
            settings,
            args.source,
            version=version,
            from_offset=args.from_offset,
            to_offset=args.to_offset,
            publish=args.publish,
            say=say,
            progress=progress,
        )
    except (TrainingError, TopicError) as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 1
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
