"""`regime-fleet asof --file trades.csv`: the bulk as-of join of the api (POST /v1/asof) over a
local file, answered from regime.events (or signals.enriched) read directly."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from workers.config import load_settings


def cmd_asof(args: argparse.Namespace) -> int:
    from workers.api.asof import BadQuery, Format
    from workers.api.asof_bulk import asof_join
    from workers.api.restore import load_histories

    path = Path(args.file)
    if not path.exists():
        print(f"regime-fleet: error: {path} does not exist", file=sys.stderr)
        return 2
    fmt: Format = (
        "jsonl" if (args.format or path.suffix.lstrip(".")) in ("jsonl", "ndjson", "json") else "csv"
    )
    settings = load_settings(args.config)
    tables = load_histories(settings, (args.of,))
    with path.open("rb") as source:
        chunks = iter(lambda: source.read(1 << 16), b"")
        try:
            for line in asof_join(chunks, tables, kind=args.of, fmt=fmt, now_ms=int(time.time() * 1000)):
                sys.stdout.write(line)
        except BadQuery as exc:
            print(f"regime-fleet: error: {path}: {exc}", file=sys.stderr)
            return 2
    return 0


def add_parser(sub: Any) -> None:
    a = sub.add_parser(
        "asof",
        help="as-of join a file of (symbol, as_of[, known_at]) rows (CSV with a header, or JSON lines) "
        "to the decisions (or enriched signals) valid then; one answer or error per row",
    )
    a.add_argument("--file", required=True, help="CSV (symbol,as_of[,known_at]) or .jsonl")
    a.add_argument("--of", choices=("regime", "signal"), default="regime")
    a.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file's suffix")
    a.set_defaults(func=cmd_asof)
