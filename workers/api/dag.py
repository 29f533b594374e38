"""The fleet DAG of topology/fleet.yaml as JSON and as Mermaid: one rendering for
GET /v1/topology and `regime-fleet topology render`."""

from __future__ import annotations

import re
from typing import Any

from workers.topology import Topology

# The api is a service of fleet.yaml, not a processor: what it reads and writes (docs/api.md).
API_SERVICE = {
    "writes": ["market.raw"],
    "reads": ["regime.events", "signals.enriched", "engine.runs", "market.buffer"],
}


def as_json(topology: Topology) -> dict[str, Any]:
    topics = {
        name: {
            "partitions": t.partitions,
            "cleanup_policy": t.cleanup_policy,
            "retention_ms": t.retention_ms,
            "value_schema": t.value_schema,
        }
        for name, t in sorted(topology.topics.items())
    }
    workers = {
        name: {
            "inputs": list(w.inputs),
            "outputs": list(w.outputs),
            "reads": list(w.reads),
            "stores": dict(w.stores),
            "dead_letter": w.dead_letter,
            "backpressure": (
                {"group": w.backpressure.group, "topic": w.backpressure.topic, "limit": w.backpressure.limit}
                if w.backpressure
                else None
            ),
        }
        for name, w in ((n, topology.workers[n]) for n in topology.order())
    }
    services = {"api": {k: [t for t in v if t in topology.topics] for k, v in API_SERVICE.items()}}
    return {
        "order": topology.order(),
        "topics": topics,
        "workers": workers,
        "services": services,
        "edges": edges(topology),
    }


def edges(topology: Topology) -> list[dict[str, str]]:
    """Every arrow: topic -> worker (input, reads), worker -> topic (output, store)."""
    out: list[dict[str, str]] = []
    for name in topology.order():
        w = topology.workers[name]
        out += [{"from": t, "to": name, "kind": "input"} for t in w.inputs]
        out += [{"from": t, "to": name, "kind": "reads"} for t in w.reads]
        out += [{"from": name, "to": t, "kind": "output"} for t in w.outputs]
        out += [{"from": name, "to": t, "kind": "store"} for t in w.stores.values()]
    out += [{"from": "api", "to": t, "kind": "output"} for t in API_SERVICE["writes"] if t in topology.topics]
    out += [{"from": t, "to": "api", "kind": "reads"} for t in API_SERVICE["reads"] if t in topology.topics]
    return out


def as_mermaid(topology: Topology) -> str:
    """A Mermaid flowchart: topics as cylinders, workers as subroutines, the api as a hexagon;
    direct reads dotted, changelogs thick."""
    lines = ["flowchart LR"]
    for name in sorted(topology.topics):
        lines.append(f"  {_id('t', name)}[({name})]")
    for name in topology.order():
        lines.append(f"  {_id('w', name)}[[{name}]]")
    lines.append(f"  {_id('w', 'api')}{{{{api}}}}")
    arrow = {"input": "-->", "output": "-->", "reads": "-. reads .->", "store": "==>"}
    for e in edges(topology):
        source = _id("t", e["from"]) if e["from"] in topology.topics else _id("w", e["from"])
        target = _id("t", e["to"]) if e["to"] in topology.topics else _id("w", e["to"])
        lines.append(f"  {source} {arrow[e['kind']]} {target}")
    return "\n".join(lines) + "\n"


def _id(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9]', '_', name)}"
