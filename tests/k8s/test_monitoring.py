"""Alerts and dashboard: promtool on the rules the chart renders, every metric they use in
docs/metrics.md, every alert with its runbook, and the dashboard's structure."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import CHART, ROOT, documents, run, tool

MONITORING = CHART / "monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What fired", "## What it means", "## Diagnose", "## Recover", "## Verify")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
PROMQL_WORDS |= {"bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels and keywords left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[a-zA-Z_:][\w:]*", expr):
        if m.group(0) not in PROMQL_WORDS and not expr[m.end() :].lstrip().startswith("("):
            names.add(m.group(0))
    return names


def documented_metrics() -> set[str]:
    """Every series name docs/metrics.md promises: its table (with the exposition suffixes of
    each type) and the Kubernetes metrics it lists as used from outside the fleet."""
    text = (ROOT / "docs" / "metrics.md").read_text()
    names: set[str] = set()
    for name, kind in re.findall(r"^\| `(\w+)` \| (\w+) \|", text, re.M):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
        names |= {name + s for s in suffixes}
    external = re.search(r"^From outside the fleet.*?(?:\n\n|\Z)", text, re.M | re.S)
    if external:
        names |= set(re.findall(r"`(\w+)`", external.group(0)))
    return names


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
    return [r for g in groups for r in g["rules"]]


@pytest.fixture(scope="session")
def rendered_rule(rendered: dict[str, str]) -> dict[str, Any]:
    rule = next(d for d in documents(rendered["production"]) if d["kind"] == "PrometheusRule")
    return rule["spec"]  # type: ignore[no-any-return]


def test_promtool_checks_the_rendered_rules(rendered_rule: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rendered_rule))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_every_alert(rendered_rule: dict[str, Any], tmp_path: Path) -> None:
    rendered_rule = copy.deepcopy(rendered_rule)
    for group in rendered_rule["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # their templates: promtool check rules above
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rule))
    tests = MONITORING / "alerts.test.yaml"
    shutil.copy(tests, tmp_path / tests.name)
    result = run(tool("promtool"), "test", "rules", str(tmp_path / tests.name))
    assert "SUCCESS" in result.stdout
    tested = set(re.findall(r"alertname: (\w+)", tests.read_text()))
    assert tested == {r["alert"] for r in rules()}, "every alert needs a promtool test"


def test_every_alert_is_complete_and_linked_to_its_runbook(rendered_rule: dict[str, Any]) -> None:
    alerts = [r for g in rendered_rule["groups"] for r in g["rules"]]
    assert len(alerts) >= 12
    for alert in alerts:
        name, annotations = alert["alert"], alert["annotations"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"].endswith(f"/docs/runbooks/{name}.md"), name


def test_every_alert_metric_is_documented() -> None:
    documented = documented_metrics()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - documented
        assert not unknown, f"{rule['alert']} uses metrics missing from docs/metrics.md: {sorted(unknown)}"


def test_metric_names_are_found() -> None:
    expr = 'sum by (le, worker) (rate(a_bucket{x="b(c)"}[5m])) / on (w) b_total > 7 * 86400 and absent(c)'
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


@pytest.mark.parametrize("alert", [r["alert"] for r in rules()])
def test_every_alert_has_a_runbook(alert: str) -> None:
    path = RUNBOOKS / f"{alert}.md"
    assert path.exists(), f"{alert} has no runbook at docs/runbooks/{alert}.md"
    text = path.read_text()
    for section in RUNBOOK_SECTIONS:
        assert section in text, f"{path.name} lacks '{section}'"
    assert "```" in text, f"{path.name}: diagnosis and recovery need exact commands"
    assert f"]({alert}.md)" in (RUNBOOKS / "README.md").read_text(), f"docs/runbooks/README.md: link {alert}"


def _dashboard() -> dict[str, Any]:
    return json.loads((MONITORING / "dashboard.json").read_text())  # type: ignore[no-any-return]


def test_dashboard_json_is_what_its_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("dashboard", MONITORING / "dashboard.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (MONITORING / "dashboard.json").read_text() == module.render(), (
        "regenerate: python helm/regime-fleet/monitoring/dashboard.py > helm/regime-fleet/monitoring/dashboard.json"
    )


def test_dashboard_has_twenty_panels_with_unique_ids() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert len([p for p in panels if p["type"] != "row"]) >= 20


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in _dashboard()["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_dashboard_queries_only_documented_metrics() -> None:
    documented = documented_metrics()
    for p in _dashboard()["panels"]:
        if p["type"] == "row":
            continue
        assert p["targets"], f"panel {p['title']} has no query"
        for target in p["targets"]:
            unknown = metric_names(target["expr"]) - documented
            assert not unknown, f"panel {p['title']!r}: {sorted(unknown)} missing from docs/metrics.md"


def test_dashboard_covers_what_the_issue_asks() -> None:
    exprs = " ".join(t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", []))
    for metric in (
        "regime_fleet_records_consumed_total",
        "regime_fleet_consumer_lag",
        "regime_fleet_batch_processing_seconds_bucket",
        "regime_fleet_checkpoint_seconds_bucket",
        "regime_fleet_end_to_end_latency_seconds_bucket",
        "regime_fleet_dlq_records_total",
        "regime_fleet_engine_runs_total",
        "regime_fleet_hysteresis_switches_total",
        "regime_fleet_state_restore_seconds_bucket",
        "regime_fleet_backpressure_pauses_total",
        "regime_fleet_lifecycle_state",
        "container_memory_working_set_bytes",
        "container_cpu_usage_seconds_total",
    ):
        assert metric in exprs, metric
