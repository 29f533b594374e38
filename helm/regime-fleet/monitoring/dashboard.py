"""Writes dashboard.json, the fleet's Grafana dashboard: `python dashboard.py > dashboard.json`.

The panels are data here, the JSON is derived (tests/k8s checks the two agree, the panel ids
are unique and every metric a panel queries is in docs/metrics.md). Variables: the Prometheus
datasource, the namespace and the workers shown.
"""

from __future__ import annotations

import json
import sys
from typing import Any

SEL = 'namespace="$namespace", worker=~"$worker"'  # metrics with a worker label
NS = 'namespace="$namespace"'  # metrics without one
RATE = "$__rate_interval"


def q(expr: str, legend: str = "") -> dict[str, str]:
    return {"expr": expr, "legendFormat": legend}


def quantiles(metric: str, by: str, sel: str, qs: tuple[float, ...] = (0.5, 0.99)) -> list[dict[str, str]]:
    group = f"{by}, le" if by else "le"
    label = f"{{{{{by}}}}} " if by else ""
    return [
        q(
            f"histogram_quantile({x}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{RATE}])))",
            f"{label}p{round(x * 100)}",
        )
        for x in qs
    ]


# (row title, [(panel title, type, unit, queries, description)])
ROWS: list[tuple[str, list[tuple[str, str, str, list[dict[str, str]], str]]]] = [
    (
        "Throughput",
        [
            (
                "Records consumed / s",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (worker) (rate(regime_fleet_records_consumed_total{{{SEL}}}[{RATE}]))",
                        "{{worker}}",
                    )
                ],
                "Per worker, all input topics.",
            ),
            (
                "Records produced / s",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (worker, topic) (rate(regime_fleet_records_produced_total{{{SEL}}}[{RATE}]))",
                        "{{worker}} → {{topic}}",
                    )
                ],
                "Per worker and output topic (changelogs included).",
            ),
            (
                "Batch size",
                "timeseries",
                "short",
                quantiles("regime_fleet_batch_size", "worker", SEL),
                "Records per consumed batch.",
            ),
            (
                "Duplicates dropped / s",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (worker) (rate(regime_fleet_duplicates_dropped_total{{{SEL}}}[{RATE}]))",
                        "{{worker}}",
                    )
                ],
                "Inputs seen before (ingest's dedupe window, the publisher's run_id dedupe).",
            ),
        ],
    ),
    (
        "Lag",
        [
            (
                "Consumer lag by worker",
                "timeseries",
                "short",
                [q(f"sum by (worker) (regime_fleet_consumer_lag{{{SEL}}})", "{{worker}}")],
                "Records not yet processed (0 when caught up, trailing transaction markers included).",
            ),
            (
                "Consumer lag by topic and partition",
                "timeseries",
                "short",
                [
                    q(
                        f"sum by (worker, topic, partition) (regime_fleet_consumer_lag{{{SEL}}})",
                        "{{worker}} {{topic}}[{{partition}}]",
                    )
                ],
                "A single hot partition means a hot symbol.",
            ),
            (
                "Total lag",
                "stat",
                "short",
                [q(f"sum(regime_fleet_consumer_lag{{{SEL}}})")],
                "Across the workers shown.",
            ),
            (
                "Lag growth (15 min)",
                "timeseries",
                "short",
                [q(f"sum by (worker) (delta(regime_fleet_consumer_lag{{{SEL}}}[15m]))", "{{worker}}")],
                "Positive for long: the worker processes less than arrives.",
            ),
        ],
    ),
    (
        "Latency",
        [
            (
                "Batch processing time",
                "timeseries",
                "s",
                quantiles("regime_fleet_batch_processing_seconds", "worker", SEL),
                "Per batch, per worker.",
            ),
            (
                "Checkpoint time",
                "timeseries",
                "s",
                quantiles("regime_fleet_checkpoint_seconds", "worker", SEL),
                "Checkpoint steps 2-5 (docs/architecture.md).",
            ),
            (
                "End-to-end latency",
                "timeseries",
                "s",
                quantiles("regime_fleet_end_to_end_latency_seconds", "", NS, (0.5, 0.9, 0.99)),
                "engine_timestamp_ms to publish; meaningful for live data.",
            ),
            (
                "Engine run time",
                "timeseries",
                "s",
                quantiles("regime_fleet_engine_run_seconds", "", NS, (0.5, 0.9, 0.99)),
                "One run of the regime engine.",
            ),
        ],
    ),
    (
        "Failures",
        [
            (
                "Dead letters / s by error_code",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (worker, error_code) (rate(regime_fleet_dlq_records_total{{{SEL}}}[{RATE}]))",
                        "{{worker}} {{error_code}}",
                    )
                ],
                "Records sent to market.raw.dlq / fleet.dlq, by reason.",
            ),
            (
                "Engine runs by status",
                "timeseries",
                "ops",
                [q(f"sum by (status) (rate(regime_fleet_engine_runs_total{{{NS}}}[{RATE}]))", "{{status}}")],
                "COMPLETED and FAILED runs per second.",
            ),
            (
                "Checkpoint aborts / s",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (worker) (rate(regime_fleet_checkpoint_aborts_total{{{SEL}}}[{RATE}]))",
                        "{{worker}}",
                    )
                ],
                "Transactions aborted and retried.",
            ),
            (
                "Retries / s by domain",
                "timeseries",
                "ops",
                [q(f"sum by (domain) (rate(regime_fleet_retries_total{{{NS}}}[{RATE}]))", "{{domain}}")],
                "Failure domains of topology/fleet.yaml.",
            ),
            (
                "Kafka client resets",
                "timeseries",
                "short",
                [
                    q(
                        f"sum by (worker) (increase(regime_fleet_client_resets_total{{{SEL}}}[{RATE}]))",
                        "{{worker}}",
                    )
                ],
                "Producers recreated after a call overran its bound.",
            ),
        ],
    ),
    (
        "Regimes",
        [
            (
                "Regime switches / s",
                "timeseries",
                "ops",
                [q(f"sum(rate(regime_fleet_hysteresis_switches_total{{{NS}}}[{RATE}]))", "switches")],
                "Confirmed hysteresis switches.",
            ),
            (
                "Published events / s by type",
                "timeseries",
                "ops",
                [
                    q(
                        f"sum by (event_type) (rate(regime_fleet_published_events_total{{{NS}}}[{RATE}]))",
                        "{{event_type}}",
                    )
                ],
                "What the publisher writes to regime.events.",
            ),
        ],
    ),
    (
        "State, backpressure, lifecycle",
        [
            (
                "Store restore time",
                "timeseries",
                "s",
                quantiles("regime_fleet_state_restore_seconds", "worker, store", SEL, (0.5, 0.99)),
                "Changelog restores on start and assignment.",
            ),
            (
                "Changelog records restored",
                "timeseries",
                "short",
                [
                    q(
                        f"sum by (worker, store) (increase(regime_fleet_state_restore_records_total{{{SEL}}}[{RATE}]))",
                        "{{worker}} {{store}}",
                    )
                ],
                "Spikes of a full store: a rebuild (no persistent volume).",
            ),
            (
                "Backpressure pauses",
                "timeseries",
                "short",
                [
                    q(
                        f"sum by (worker) (increase(regime_fleet_backpressure_pauses_total{{{SEL}}}[{RATE}]))",
                        "{{worker}}",
                    )
                ],
                "Pauses for a lagging downstream group.",
            ),
            (
                "Lifecycle state by pod",
                "state-timeline",
                "short",
                [q(f"max by (pod, state) (regime_fleet_lifecycle_state{{{SEL}}}) == 1", "{{pod}} {{state}}")],
                "init → running → drained → stopped, or degraded.",
            ),
            (
                "Pods running",
                "stat",
                "short",
                [
                    q(
                        f'sum by (worker) (regime_fleet_lifecycle_state{{{SEL}, state="running"}})',
                        "{{worker}}",
                    )
                ],
                "Per worker.",
            ),
            (
                "Pods degraded",
                "stat",
                "short",
                [q(f'sum(regime_fleet_lifecycle_state{{{SEL}, state="degraded"}})')],
                "Any above 0 needs an operator (runbook RegimeFleetWorkerDegraded).",
            ),
        ],
    ),
    (
        "Resources",
        [
            (
                "Memory (working set) by pod",
                "timeseries",
                "bytes",
                [
                    q(
                        'sum by (pod) (container_memory_working_set_bytes{namespace="$namespace", container=~"$worker"})',
                        "{{pod}}",
                    )
                ],
                "From the kubelet (cAdvisor): RSS plus active page cache, what the OOM killer sees.",
            ),
            (
                "CPU by pod",
                "timeseries",
                "short",
                [
                    q(
                        f'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="$namespace", container=~"$worker"}}[{RATE}]))',
                        "{{pod}}",
                    )
                ],
                "Cores used, from the kubelet (cAdvisor).",
            ),
        ],
    ),
    (
        "Enricher",
        [
            (
                "Enrichment time by stage",
                "timeseries",
                "s",
                quantiles("regime_fleet_enrichment_seconds", "stage", NS, (0.5, 0.99)),
                "features, predict, total.",
            ),
            (
                "Signals enriched and rejected / s",
                "timeseries",
                "ops",
                [
                    q(f"sum(rate(regime_fleet_signals_enriched_total{{{NS}}}[{RATE}]))", "enriched"),
                    q(
                        f"sum by (error_code) (rate(regime_fleet_signals_rejected_total{{{NS}}}[{RATE}]))",
                        "rejected {{error_code}}",
                    ),
                ],
                "Rejections by error_code.",
            ),
            (
                "Model in service",
                "stat",
                "short",
                [q(f"count by (model_version) (regime_fleet_model_info{{{NS}}} == 1)", "{{model_version}}")],
                "Model versions in service and on how many partitions.",
            ),
            (
                "Model age",
                "stat",
                "s",
                [q(f"max(regime_fleet_model_age_seconds{{{NS}}})")],
                "Since the model in service was trained.",
            ),
            (
                "Model swaps and rejections",
                "timeseries",
                "short",
                [
                    q(f"sum(increase(regime_fleet_model_swaps_total{{{NS}}}[{RATE}]))", "swaps"),
                    q(
                        f"sum by (reason) (increase(regime_fleet_model_rejections_total{{{NS}}}[{RATE}]))",
                        "rejected {{reason}}",
                    ),
                ],
                "Hot swaps of the meta-model, and models refused.",
            ),
        ],
    ),
    (
        "API",
        [
            (
                "HTTP requests / s by status",
                "timeseries",
                "reqps",
                [
                    q(
                        f"sum by (status) (rate(regime_fleet_http_requests_total{{{NS}}}[{RATE}]))",
                        "{{status}}",
                    )
                ],
                "429: ingest backpressure; 5xx: failures.",
            ),
            (
                "HTTP latency by route",
                "timeseries",
                "s",
                quantiles("regime_fleet_http_request_seconds", "route", NS, (0.5, 0.99)),
                "To the response headers.",
            ),
        ],
    ),
]


def panel(
    pid: int, title: str, kind: str, unit: str, targets: list[dict[str, str]], desc: str, x: int, y: int
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 6 if kind == "stat" else 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": {"type": "prometheus", "uid": "${datasource}"}, **t}
            for i, t in enumerate(targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row_title, row in ROWS:
        panels.append(
            {
                "id": pid,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        pid, y, x = pid + 1, y + 1, 0
        for title, kind, unit, targets, desc in row:
            width = 6 if kind == "stat" else 12
            if x + width > 24:
                x, y = 0, y + 8
            panels.append(panel(pid, title, kind, unit, targets, desc, x, y))
            pid, x = pid + 1, x + width
        y += 8
    variable = {"type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"}, "refresh": 2}
    return {
        "uid": "regime-fleet",
        "title": "regime-fleet",
        "description": "The regime-fleet workers: throughput, lag, latency, failures, state, resources.",
        "tags": ["regime-fleet", "kafka"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
                {
                    **variable,
                    "name": "namespace",
                    "label": "Namespace",
                    "query": "label_values(regime_fleet_lifecycle_state, namespace)",
                    "definition": "label_values(regime_fleet_lifecycle_state, namespace)",
                },
                {
                    **variable,
                    "name": "worker",
                    "label": "Worker",
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "query": 'label_values(regime_fleet_lifecycle_state{namespace="$namespace"}, worker)',
                    "definition": 'label_values(regime_fleet_lifecycle_state{namespace="$namespace"}, worker)',
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
