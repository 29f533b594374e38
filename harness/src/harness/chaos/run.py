"""`regime-fleet chaos`: run the fault scenarios one at a time on the suite's own broker and
print, per scenario, what was lost, duplicated, reordered or stuck (exit 0: all clean)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.chaos.fleet import SHARED_TEST_PORT, ChaosBroker
from harness.chaos.harness import ScenarioResult, ScenarioRun
from harness.chaos.scenarios import LONG, SCENARIOS, SHORT, Scenario, Size

COLUMNS = (
    ("scenario", "name"),
    ("expected", "expected"),
    ("kills", "kills"),
    ("broker restarts", "broker_restarts"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("out of order", "out_of_order"),
    ("mismatched / extra", "mismatched"),
    ("stuck", "stuck"),
    ("unexpected exits", "unexpected_exits"),
    ("longest recovery s", "recovery_s"),
    ("provenance", "provenance"),
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "chaos",
        help="fault scenarios against the suite's own Kafka broker (exit 0 all clean, 1 otherwise)",
        description=__doc__,
    )
    p.add_argument("--long", action="store_true", help="more data and more faults per scenario")
    p.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("CHAOS_KAFKA_PORT", "19092")),
        help="port of the suite's own local broker (never the shared 9092)",
    )
    p.add_argument("--seed", type=int, default=7, help="seeds the fault schedule")
    p.set_defaults(func=run_chaos)
    return p


def run_chaos(args: argparse.Namespace) -> int:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not external and args.port == SHARED_TEST_PORT:
        print("regime-fleet: error: chaos restarts its broker: use another --port than 9092", file=sys.stderr)
        return 2
    started = time.monotonic()
    results, root = run_scenarios(
        args.scenario or list(SCENARIOS), long=args.long, port=args.port, seed=args.seed, external=external
    )
    table = results_table(results)
    print(f"\n{table}\nchaos: {len(results)} scenario(s) in {time.monotonic() - started:.0f}s", flush=True)
    (root / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    (root / "results.md").write_text(table + "\n")
    clean = all(r.status in ("clean", "skipped") for r in results)
    print("chaos: every scenario clean" if clean else "chaos: FAILED", flush=True)
    return 0 if clean else 1


def run_scenarios(
    names: list[str], *, long: bool = False, port: int = 19092, seed: int = 7, external: str | None = None
) -> tuple[list[ScenarioResult], Path]:
    """Run the named scenarios one at a time; the results and the folder with their logs.
    With `external` (a bootstrap address) the broker scenarios are skipped."""
    size = LONG if long else SHORT
    root = Path(".cache") / "chaos" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    broker = ChaosBroker(port, external)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    print(f"chaos: {'long' if long else 'short'} form, scenarios {names}; logs in {root}/", flush=True)
    try:
        # The harness's own Kafka clients complain on stderr while the broker is down: to a file.
        with _stderr_to(root / "clients.log"):
            bootstrap = broker.up()
            print(
                f"chaos: broker {bootstrap}" + (" (external: broker scenarios skipped)" if external else "")
            )
            for name in names:
                scenario = SCENARIOS[name]
                if scenario.touches_broker and not broker.can_restart:
                    skipped = ScenarioResult(name, status="skipped")
                    skipped.notes.append(
                        "KAFKA_BOOTSTRAP_SERVERS is set: the suite never restarts a broker it does not own"
                    )
                    results.append(skipped)
                    continue
                results.append(_run_one(scenario, size, broker, bootstrap, root / name, seed, started))
                _print_result(results[-1])
    finally:
        broker.release()
    return results, root


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(target, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _run_one(
    scenario: Scenario, size: Size, broker: ChaosBroker, bootstrap: str, root: Path, seed: int, t0: float
) -> ScenarioResult:
    def say(message: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {scenario.name}: {message}", flush=True)

    say(scenario.summary)
    run = ScenarioRun(scenario.name, broker, bootstrap, root, scenario.overrides, size.limits, say)
    began = time.monotonic()
    try:
        scenario.run(run, size, random.Random(seed))
        result = run.finish()
    except Exception as exc:
        result = run.result
        result.status = "error"
        result.notes.append(f"harness error: {type(exc).__name__}: {exc}")
    finally:
        run.close()
    result.seconds = round(time.monotonic() - began, 1)
    return result


def _print_result(r: ScenarioResult) -> None:
    print(
        f"  -> {r.status}: expected {r.expected}, published {r.published}, lost {r.lost}, "
        f"duplicated {r.duplicated}, out of order {r.out_of_order}, mismatched {r.mismatched}, "
        f"extra {r.extra}, unexpected exits {r.unexpected_exits}, recovery {_recovery(r)}, "
        f"provenance {r.provenance}, {r.seconds:.0f}s",
        flush=True,
    )
    if r.stuck:
        print(f"     stuck: {r.stuck}", flush=True)
    if r.dead_letters:
        print(f"     dead letters: {r.dead_letters}", flush=True)
    for note in r.notes:
        print(f"     {note}", flush=True)


def _recovery(r: ScenarioResult) -> str:
    text = "-" if r.recovery_s is None else f"{r.recovery_s:.1f}"
    if r.unrecovered:
        text = (
            f"never ({r.unrecovered} fault(s))" if r.recovery_s is None else f"{text}, {r.unrecovered} never"
        )
    return text


def results_table(results: list[ScenarioResult]) -> str:
    """The markdown table docs/reliability.md shows."""
    lines = ["| " + " | ".join(c for c, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        if r.status == "skipped":
            lines.append(f"| {r.name} | skipped: {r.notes[0]} |" + " |" * (len(COLUMNS) - 2))
            continue
        cells = {
            "name": f"{r.name} ({r.status})",
            "expected": str(r.expected),
            "kills": str(r.kills),
            "broker_restarts": str(r.broker_restarts),
            "lost": str(r.lost),
            "duplicated": str(r.duplicated),
            "out_of_order": str(r.out_of_order),
            "mismatched": f"{r.mismatched} / {r.extra}",
            "stuck": (r.stuck or "-").replace("|", "/"),
            "unexpected_exits": str(r.unexpected_exits),
            "recovery_s": _recovery(r),
            "provenance": r.provenance.replace("|", "/"),
        }
        lines.append("| " + " | ".join(cells[attr] for _, attr in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    top = argparse.ArgumentParser(prog="python -m harness.chaos.run")
    add_parser(top.add_subparsers(dest="command", required=True))
    sys.exit(run_chaos(top.parse_args(["chaos", *sys.argv[1:]])))
