"""The Helm chart's per-worker values generated from the topology: each worker's kind
(StatefulSet when it has stores) and inputs, so helm/regime-fleet/values.yaml never copies fleet.yaml.

`regime-fleet topology helm-values` rewrites the block between the markers of values.yaml;
the other keys of a worker's entry there (resources, replicas...) are kept as written, and
tests/unit/test_chart_values.py fails when the file differs from what this would write.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from workers.topology import Topology

VALUES = Path(__file__).resolve().parents[1] / "helm" / "regime-fleet" / "values.yaml"
BEGIN = "  # BEGIN generated from topology/fleet.yaml by `regime-fleet topology helm-values`:"
END = "  # END generated"
NOTE = (
    "  # each worker's kind and inputs follow fleet.yaml (edit it, then run the command); the other\n"
    "  # keys of an entry are kept as written. Services (fleet.yaml `services`) follow the block.\n"
)


class ValuesError(Exception):
    """values.yaml the generator cannot rewrite (no file, no markers); the message says why."""


def worker_values(topology: Topology) -> dict[str, dict[str, Any]]:
    """What the chart must know of each topology worker, in fleet.yaml's order."""
    return {
        name: {"kind": "StatefulSet" if spec.stores else "Deployment", "inputs": list(spec.inputs)}
        for name, spec in topology.workers.items()
    }


def render(values: str, topology: Topology) -> str:
    """`values` (the text of values.yaml) with its generated block rewritten from `topology`."""
    head, block, tail = _split(values)
    current = yaml.safe_load(textwrap.dedent(block)) or {}
    lines = []
    for name, derived in worker_values(topology).items():
        kept = {k: v for k, v in (current.get(name) or {}).items() if k not in derived}
        lines.append(f"  {name}:")
        lines += [f"    {key}: {_flow(value)}" for key, value in {**derived, **kept}.items()]
    return f"{head}{BEGIN}\n{NOTE}" + "\n".join(lines) + f"\n{END}\n{tail}"


def write(topology: Topology, path: Path = VALUES) -> bool:
    """Rewrite the chart's values from the topology; whether anything changed."""
    if not path.exists():
        raise ValuesError(
            f"{path} does not exist: run this in a source checkout (the chart is not installed)"
        )
    before = path.read_text()
    after = render(before, topology)
    if after != before:
        path.write_text(after)
    return after != before


def _split(values: str) -> tuple[str, str, str]:
    start, end = values.find(BEGIN + "\n"), values.find(END + "\n")
    if start < 0 or end < start:
        raise ValuesError(f"values.yaml needs the lines {BEGIN!r} and {END!r} under `workers:`")
    body = values[start:end].split("\n", 1)[1]
    entries = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))
    return values[:start], entries, values[end + len(END) + 1 :]


def _flow(value: Any) -> str:
    """One value as one line of flow-style YAML (`[a, b]`, `{cpu: 500m}`, `StatefulSet`)."""
    return yaml.safe_dump([value], default_flow_style=True, width=1 << 20, sort_keys=False).strip()[1:-1]
