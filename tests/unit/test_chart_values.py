"""The Helm values' per-worker entries are generated from topology/fleet.yaml: a plain YAML
check (no helm binary) that fails when the chart drifts from the topology."""

from __future__ import annotations

import pytest
import yaml

from workers import chart
from workers.topology import load_topology


def test_the_chart_values_are_what_the_topology_generates() -> None:
    values = chart.VALUES.read_text()
    assert chart.render(values, load_topology(1)) == values, (
        "helm/regime-fleet/values.yaml drifted from topology/fleet.yaml: run "
        "`regime-fleet topology helm-values`"
    )


def test_every_worker_and_service_has_a_chart_entry_and_nothing_else() -> None:
    topology = load_topology(1)
    workers = yaml.safe_load(chart.VALUES.read_text())["workers"]
    assert set(workers) == set(topology.workers) | set(topology.services)
    for name, spec in topology.workers.items():
        assert workers[name]["inputs"] == list(spec.inputs)
        assert workers[name]["kind"] == ("StatefulSet" if spec.stores else "Deployment")


def test_render_follows_the_topology_and_keeps_hand_written_keys() -> None:
    values = chart.VALUES.read_text()
    topology = load_topology(1)
    engine = topology.workers["engine"]
    changed = type(topology)(
        topology.topics,
        {**topology.workers, "engine": type(engine)(name="engine", inputs=("x",), outputs=())},
    )
    rendered = yaml.safe_load(chart.render(values, changed))["workers"]["engine"]
    assert rendered["inputs"] == ["x"] and rendered["kind"] == "Deployment"
    assert rendered["resources"] == yaml.safe_load(values)["workers"]["engine"]["resources"]
    drifted = values.replace("inputs: [engine.runs]", "inputs: [engine.results]")
    assert drifted != values and chart.render(drifted, topology) == values


def test_values_without_the_markers_are_an_error() -> None:
    with pytest.raises(chart.ValuesError, match="BEGIN generated"):
        chart.render("workers:\n  ingest: {}\n", load_topology(1))
