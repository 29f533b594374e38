"""regime-fleet: run workers, manage topics and the local broker, move JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from workers.config import ConfigError, FleetSettings, load_settings
from workers.contracts import ContractError
from workers.topology import (
    InvalidTopology,
    load_topology,
    read_topology,
    service_names,
    topology_path,
    validate,
    worker_names,
)


def _workers() -> list[str]:
    """The workers declared in topology/fleet.yaml."""
    return worker_names()


# The services of topology/fleet.yaml (`services:`): not stream processors, same `run`.
SERVICES = tuple(service_names())


def _settings(args: argparse.Namespace) -> FleetSettings:
    return load_settings(args.config)


def cmd_topology(args: argparse.Namespace) -> int:
    if args.action == "render":
        from workers.api import dag

        topology = load_topology(_settings(args).partitions, args.file and Path(args.file))
        text = (
            dag.as_mermaid(topology)
            if args.format == "mermaid"
            else json.dumps(dag.as_json(topology), indent=2) + "\n"
        )
        print(text, end="")
        return 0

    if args.action == "helm-values":
        from workers import chart

        try:
            changed = chart.write(load_topology(1, args.file and Path(args.file)))
        except chart.ValuesError as exc:
            print(f"regime-fleet: error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"values": str(chart.VALUES), "changed": changed}))
        return 0

    errors = validate(read_topology(args.file and Path(args.file)))
    for e in errors:
        print(json.dumps(e.as_dict()))
    if not errors:
        print(json.dumps({"valid": True, "file": str(args.file or topology_path())}))
    return 1 if errors else 0


def cmd_topics(args: argparse.Namespace) -> int:
    from workers.runtime.admin import ensure_topics

    settings = _settings(args)
    reports = ensure_topics(settings, load_topology(settings.partitions), create=args.action == "create")
    for r in reports:
        print(json.dumps({"topic": r.name, "action": r.action, **({"detail": r.detail} if r.detail else {})}))
    bad = [r for r in reports if r.action in ("mismatch", "missing")]
    if bad:
        print(
            f"{len(bad)} topic(s) differ from the topology; delete and recreate them, or fix topology/fleet.yaml",
            file=sys.stderr,
        )
    return 1 if bad else 0


def cmd_produce(args: argparse.Namespace) -> int:
    from workers.runtime.topic_io import produce_lines

    settings = _settings(args)
    with open(args.file) if args.file else contextlib.nullcontext(sys.stdin) as source:
        report = produce_lines(settings, load_topology(settings.partitions), args.topic, source)
    for reject in report.rejected:
        print(f"line {reject['line']}: rejected: {reject['reason']}", file=sys.stderr)
    print(json.dumps({"produced": report.produced, "rejected": len(report.rejected)}))
    return 1 if report.rejected and not args.skip_invalid else 0


def cmd_consume(args: argparse.Namespace) -> int:
    from workers.contracts.json_form import dumps
    from workers.runtime.topic_io import consume_records

    settings = _settings(args)
    records = consume_records(
        settings,
        load_topology(settings.partitions),
        args.topic,
        from_beginning=args.from_beginning,
        max_records=args.max,
        timeout_s=args.timeout,
    )
    for record in records:
        print(dumps(record), flush=True)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a worker or service; a SIGTERM/SIGINT while it is still being built (settings,
    clients, models) ends the process cleanly (exit 0) instead of killing it."""
    import signal

    from workers.runtime.app import build
    from workers.runtime.observability import configure_logging

    early: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: early.append(received))
    configure_logging(os.environ.get("REGIME_FLEET_LOG_LEVEL", "INFO"))
    settings = _settings(args)
    runnable = build(args.worker, settings, load_topology(settings.partitions))
    if early:
        return 0
    return int(runnable.run())


def cmd_api(args: argparse.Namespace) -> int:
    from workers.api.openapi import render

    sys.stdout.write(render())
    return 0


REPLAYABLE = (
    "engine.runs",
    "market.buffer",
    "market.raw",
    "signals.enriched",
    "signals.shadow",
    "models.metrics",
)


def cmd_replay(args: argparse.Namespace) -> int:
    from workers.replay.config import replay_config
    from workers.replay.engine_runs import replay_engine_runs
    from workers.replay.pipeline import replay_pipeline
    from workers.runtime.reader import TopicError

    if args.topic not in REPLAYABLE:
        print(
            f"regime-fleet: error: cannot replay {args.topic!r}: use one of {', '.join(REPLAYABLE)}",
            file=sys.stderr,
        )
        return 2
    chosen = replay_config(_settings(args), args.config_source)
    print(f"replay: configuration: {chosen.source}", file=sys.stderr)
    for key, (recorded, used) in chosen.differs.items():
        print(
            f"replay: configuration differs: {key}: fleet recorded {recorded!r}, replay uses {used!r}",
            file=sys.stderr,
        )
    for key, (one, other) in chosen.disagreeing_workers.items():
        print(
            f"replay: warning: the fleet's workers ran with different {key}: {one!r} / {other!r}",
            file=sys.stderr,
        )
    try:
        if args.topic == "signals.enriched":
            from workers.replay.enriched import replay_enriched

            report = replay_enriched(chosen.settings, symbol=args.symbol, progress=Progress("reading"))
        elif args.topic == "signals.shadow":
            from workers.replay.enriched import replay_shadow

            report = replay_shadow(chosen.settings, symbol=args.symbol, progress=Progress("reading"))
        elif args.topic == "models.metrics":
            from workers.replay.metrics import replay_metrics

            if args.symbol is not None:
                print(
                    "regime-fleet: error: models.metrics is per model version: no --symbol", file=sys.stderr
                )
                return 2
            report = replay_metrics(chosen.settings, progress=Progress("reading"))
        elif args.topic == "engine.runs":
            report = replay_engine_runs(
                chosen.settings,
                symbol=args.symbol,
                start=args.from_ms,
                end=args.to_ms,
                output_topic=args.output_topic,
                progress=Progress("replay"),
            )
        else:
            report = replay_pipeline(
                chosen.settings, args.topic, symbol=args.symbol, progress=Progress("reading")
            )
    except TopicError as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 2
    report.config_source, report.config_differs = chosen.source, chosen.differs
    print(json.dumps(report.as_dict(), indent=2))
    if report.config_differs:
        print("replay ran with a configuration the fleet did not have (see config_differs)", file=sys.stderr)
    print(
        "replay matches what was published" if report.ok else "replay DIVERGES from what was published",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


class Progress:
    """done/total on one redrawn line on a terminal; a line per 10 % otherwise (logs, CI)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if self.tty and (done == total or done % 500 == 0):
            print(
                f"\r{self.label}: {done}/{total}",
                end="\n" if done == total else "",
                file=sys.stderr,
                flush=True,
            )
        elif not self.tty and total and (tenth := done * 10 // total) > self.shown:
            self.shown = tenth
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)


def cmd_provenance(args: argparse.Namespace) -> int:
    from workers.replay import provenance
    from workers.runtime.reader import TopicError

    settings = _settings(args)
    try:
        if args.action == "verify":
            result = provenance.verify(settings, args.topic, args.symbol)
            print(json.dumps(result, indent=2))
            return 0 if result["ok"] else 1
        if not args.run_id:
            print("regime-fleet: error: provenance show needs a RUN_ID", file=sys.stderr)
            return 2
        print(json.dumps(provenance.show(settings, args.run_id), indent=2))
        return 0
    except TopicError as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 2


# Commands that come with the source checkout (harness/, the regime-fleet-harness distribution),
# found through this entry-point group: the product never imports the harness by name.
COMMANDS_GROUP = "regime_fleet.commands"
CHECKOUT_COMMANDS = {
    "broker": "make kafka-up",
    "demo": "make demo",
    "bench": "make bench",
    "chaos": "make chaos",
}


def add_harness_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Each installed `regime_fleet.commands` entry point adds its subcommand; a checkout command
    that is not installed (or does not load) still parses, and says why and where it comes from."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}
    for name in [*CHECKOUT_COMMANDS, *sorted(set(found) - set(CHECKOUT_COMMANDS))]:
        broken = ""
        if name in found:
            try:
                found[name].load()(sub)
                continue
            except Exception as exc:  # a broken harness must not take `run` and the rest down with it
                broken = f"{type(exc).__name__}: {exc}"
        missing = sub.add_parser(
            name,
            help=f"{'does not load' if broken else 'not installed'}: comes with the source checkout "
            f"({CHECKOUT_COMMANDS.get(name, 'harness/')})",
            add_help=False,
            prefix_chars="\0",  # every argument is accepted, so the answer is the one below
        )
        missing.add_argument("args", nargs="*")
        missing.set_defaults(func=_not_installed, broken=broken)


def _not_installed(args: argparse.Namespace) -> int:
    """Exit 2 with why the command is missing and how to get it."""
    how = CHECKOUT_COMMANDS.get(args.command, "make venv")
    if args.broken:
        print(f"regime-fleet: error: `{args.command}` does not load: {args.broken}", file=sys.stderr)
    else:
        print(
            f"regime-fleet: error: `{args.command}` is not installed: it comes with the source checkout, "
            "not with the regime-fleet package",
            file=sys.stderr,
        )
    print(
        f"In a clone of the repository run `{how}` (the Makefile installs harness/, the "
        "regime-fleet-harness distribution, beside the package), or `pip install -e ./harness` there.",
        file=sys.stderr,
    )
    return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regime-fleet", description=__doc__)
    p.add_argument("--config", help="YAML settings file (environment REGIME_FLEET_* overrides it)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("topology", help="check topology/fleet.yaml")
    t.add_argument("action", choices=("validate", "render", "helm-values"))
    t.add_argument("--file", help="another topology file")
    t.add_argument("--format", choices=("json", "mermaid"), default="json", help="with render")
    t.set_defaults(func=cmd_topology)

    tp = sub.add_parser("topics", help="create or verify the fleet's topics from the topology")
    tp.add_argument("action", choices=("create", "verify"))
    tp.set_defaults(func=cmd_topics)

    pr = sub.add_parser("produce", help="produce JSON lines (canonical form of the topic's schema)")
    pr.add_argument("--topic", required=True, help="logical topic name, e.g. market.raw")
    pr.add_argument("--file", help="JSON lines file (default: stdin)")
    pr.add_argument("--skip-invalid", action="store_true", help="exit 0 even when lines were rejected")
    pr.set_defaults(func=cmd_produce)

    c = sub.add_parser("consume", help="print records as JSON lines (read_committed)")
    c.add_argument("--topic", required=True)
    c.add_argument("--from-beginning", action="store_true")
    c.add_argument("--max", type=int, help="stop after N records")
    c.add_argument("--timeout", type=float, default=5.0, help="stop after S seconds without records")
    c.set_defaults(func=cmd_consume)

    r = sub.add_parser("run", help="run one worker until SIGTERM")
    r.add_argument("worker", choices=[*_workers(), *SERVICES])
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser(
        "replay",
        help="re-run recorded work and compare with what was published (exit 0 match, 1 diverge, 2 error)",
    )
    rp.add_argument(
        "--topic",
        required=True,
        help="engine.runs (re-execute recorded runs), market.buffer or "
        "market.raw (re-run the pipeline from scratch, in process), signals.enriched (recompute "
        "every enriched signal from its recorded input positions), signals.shadow (the same, "
        "comparing the challengers' shadow scores byte for byte), models.metrics (re-run the "
        "labeler; each model version's last live scores per partition, byte for byte)",
    )
    rp.add_argument("--symbol", help="only this symbol")
    rp.add_argument("--from", dest="from_ms", type=int, help="first engine_timestamp_ms")
    rp.add_argument("--to", dest="to_ms", type=int, help="last engine_timestamp_ms")
    rp.add_argument("--output-topic", help="also produce the replayed events here (full topic name)")
    rp.add_argument(
        "--config-source",
        choices=("recorded", "current"),
        default="recorded",
        help="recorded (default): the configuration the fleet recorded on fleet.config, except keys "
        "set explicitly here; current: this shell's settings, defaults included",
    )
    rp.set_defaults(func=cmd_replay)

    pv = sub.add_parser("provenance", help="verify hash chains or show one run's provenance")
    pv.add_argument("action", choices=("verify", "show"))
    pv.add_argument("run_id", nargs="?", help="with show: the run")
    pv.add_argument("--topic", default="regime.events")
    pv.add_argument("--symbol")
    pv.set_defaults(func=cmd_provenance)

    a = sub.add_parser("api", help="the api worker's OpenAPI document (docs/openapi.json)")
    a.add_argument("action", choices=("openapi",))
    a.set_defaults(func=cmd_api)

    from workers.cli.acls import add_parser as add_acls
    from workers.cli.asof import add_parser as add_asof
    from workers.cli.model import add_parser as add_model
    from workers.cli.state import add_parser as add_state
    from workers.cli.train import add_parser as add_train

    add_model(sub)
    add_acls(sub)
    add_asof(sub)
    add_train(sub)
    add_state(sub)
    add_harness_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, ContractError, InvalidTopology) as exc:
        print(f"regime-fleet: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
