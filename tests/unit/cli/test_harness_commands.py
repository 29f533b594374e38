"""The product CLI finds the harness's commands through entry points only: listed and parsed
when the harness is installed, a clear exit 2 when it is not; the product never imports it."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

from workers.cli import main

WORKERS = Path(main.__file__).resolve().parents[1]
CHECKOUT = ("broker", "demo", "bench", "chaos")


def test_installed_harness_commands_are_listed_and_keep_their_flags() -> None:
    p = main.parser()
    assert all(f"    {name} " in p.format_help() for name in CHECKOUT)
    bench = p.parse_args(["bench", "--quick", "--only", "api"])
    assert (bench.quick, bench.only, bench.events) == (True, "api", 200_000)
    demo = p.parse_args(["demo", "--days", "30"])
    assert (demo.days, demo.partitions, demo.window) == (30, 3, 60)
    assert p.parse_args(["broker", "up", "--port", "9192", "--secure"]).port == 9192
    chaos = p.parse_args(["chaos", "--long", "--seed", "3"])
    assert chaos.long and chaos.seed == 3 and chaos.func.__module__ == "harness.chaos.run"


@pytest.fixture
def no_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.entry_points

    def without(**kw: Any) -> Any:
        return [] if kw.get("group") == main.COMMANDS_GROUP else real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", without)


@pytest.mark.parametrize("argv", [["demo"], ["bench", "--quick"], ["chaos", "--help"], ["broker", "up"]])
def test_without_the_harness_its_commands_say_where_they_come_from(
    no_harness: None, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert "comes with the source checkout" in err and f"`{main.CHECKOUT_COMMANDS[argv[0]]}`" in err
    assert "not installed" in main.parser().format_help()


def test_a_harness_that_does_not_load_breaks_only_its_own_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = importlib.metadata.EntryPoint("demo", "harness.no_such_module:add", main.COMMANDS_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [broken])
    assert main.parser().parse_args(["run", "ingest"]).worker == "ingest"
    assert main.main(["demo", "--days", "3"]) == 2
    assert "does not load: ModuleNotFoundError" in capsys.readouterr().err


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_product_imports_no_harness_and_only_the_cli_imports_the_cli() -> None:
    offenders = []
    for path in WORKERS.rglob("*.py"):
        inside_cli = path.parent.name == "cli"
        for module in _imports(path):
            top = module.split(".")
            if top[0] == "harness" or (top[:2] == ["workers", "cli"] and not inside_cli):
                offenders.append(f"{path.relative_to(WORKERS.parent)}: {module}")
    assert not offenders, offenders
