"""`regime-fleet acls plan|apply|verify`: the fleet's least-privilege ACLs, from the topology.

plan prints them (kafka-acls.sh command lines, or JSON) without touching the broker; apply
creates the missing ones with the admin client (idempotent; `--prune` also deletes bindings of
the same principals that are not planned); verify reports drift and exits 1 when there is any.
apply and verify need admin credentials (REGIME_FLEET_KAFKA__*), a principal allowed to alter ACLs.
"""

from __future__ import annotations

import argparse
import json
import sys

from workers.config import load_settings
from workers.security.acls import DEFAULT_PRINCIPAL, Acl, drift, kafka_acls_commands, plan, principal_for
from workers.topology import load_topology


def planned(args: argparse.Namespace) -> list[Acl]:
    settings = load_settings(args.config)
    return plan(
        load_topology(settings.partitions),
        settings.topic_prefix,
        principal_for(args.principal),
        eos=settings.runtime.processing_guarantee == "exactly_once",
        only=args.only or None,
    )


def cmd_acls(args: argparse.Namespace) -> int:
    from workers.security.admin import AclError

    try:
        acls = planned(args)
    except ValueError as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 2
    if args.action == "plan":
        if args.format == "json":
            print(json.dumps([a.as_dict() for a in acls], indent=2))
        else:
            settings = load_settings(args.config)
            print("\n".join(kafka_acls_commands(acls, settings.kafka.bootstrap_servers)))
        return 0
    from workers.security import admin

    settings = load_settings(args.config)
    try:
        have = admin.current(settings, {a.principal for a in acls})
        found = drift(acls, have, settings.topic_prefix)
        if args.action == "apply":
            created = admin.create(settings, found.missing)
            deleted = admin.delete(settings, found.extra) if args.prune else 0
            print(json.dumps({"planned": len(acls), "created": created, "deleted": deleted}))
            if found.extra and not args.prune:
                print(f"{len(found.extra)} unplanned ACL(s) kept; --prune deletes them", file=sys.stderr)
            return 0
    except AclError as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 2
    for a in found.missing:
        print(json.dumps({"drift": "missing", **a.as_dict()}))
    for a in found.extra:
        print(json.dumps({"drift": "extra", **a.as_dict()}))
    print(
        json.dumps({"planned": len(acls), "missing": len(found.missing), "extra": len(found.extra)}),
        file=sys.stderr,
    )
    return 0 if found.clean else 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    a = sub.add_parser("acls", help="least-privilege ACLs per worker principal, derived from the topology")
    a.add_argument("action", choices=("plan", "apply", "verify"))
    a.add_argument(
        "--principal",
        default=DEFAULT_PRINCIPAL,
        help="principal template; {worker} is replaced by the worker (or api, topics); "
        "without {worker} every worker shares one principal",
    )
    a.add_argument("--only", action="append", metavar="WORKER", help="only this worker (repeatable)")
    a.add_argument("--format", choices=("kafka-acls", "json"), default="kafka-acls", help="with plan")
    a.add_argument(
        "--prune", action="store_true", help="with apply: delete unplanned ACLs of these principals"
    )
    a.set_defaults(func=cmd_acls)
