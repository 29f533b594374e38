"""What the operator endpoints read and write (docs/api.md, "Control plane"): commands on
fleet.control, the fleet's instances from their heartbeats and the consumer groups, each
group's offsets and lag, and the trained models. Blocking Kafka calls, each bounded: the
routes run them in a thread."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from workers import clients
from workers.config import FleetSettings
from workers.runtime.commands import Command, Target, command
from workers.runtime.control import Recorder, read_commands
from workers.runtime.heartbeat import STALE_AFTER_S, read_heartbeats
from workers.topology import Topology
from workers.trainer.settings import TrainerSettings

TIMEOUT_S = 10.0


def issue(
    recorder: Recorder,
    topology: Topology,
    action: str,
    body: dict[str, Any],
    correlation_id: str,
) -> list[Command]:
    """Check an operator request against the topology and record it (ControlError when bad)."""
    settings = recorder.settings
    partition = body.get("partition")
    target = Target(
        worker=str(body.get("worker") or "*"),
        partition=int(partition) if partition is not None else None,
        symbol=str(body["symbol"]) if body.get("symbol") is not None else None,
    )
    cmds = command(
        action,
        target,
        workers=topology.workers,
        partitions=settings.partitions,
        now_ms=int(time.time() * 1000),
        correlation_id=correlation_id,
        reason=str(body.get("reason", ""))[:500],
        mode=body.get("mode"),
    )
    recorder.record(cmds, TIMEOUT_S)
    return cmds


def control_state(settings: FleetSettings) -> dict[str, Any]:
    """The active commands (the fold of the history) and how many were recorded."""
    from workers.runtime.commands import state_at

    history = read_commands(settings, TIMEOUT_S)
    state = state_at(history, 2**62)
    return {"active": [c.as_dict() for c in state.active()], "recorded": len(history)}


def _groups(settings: FleetSettings, topology: Topology) -> dict[str, dict[str, Any]]:
    """worker -> its consumer group's state and members (with their assigned partitions)."""
    admin = AdminClient(clients.base_config(settings))
    ids = {settings.group(w): w for w in topology.order()}
    out: dict[str, dict[str, Any]] = {}
    for group, future in admin.describe_consumer_groups(list(ids), request_timeout=TIMEOUT_S).items():
        try:
            desc = future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            out[ids[group]] = {"group": group, "state": "unknown", "error": str(exc), "members": []}
            continue
        out[ids[group]] = {
            "group": group,
            "state": str(desc.state).rsplit(".", 1)[-1].lower(),
            "members": [
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "partitions": sorted(
                        f"{settings_logical(settings, tp.topic)}[{tp.partition}]"
                        for tp in (m.assignment.topic_partitions if m.assignment else [])
                    ),
                }
                for m in desc.members
            ],
        }
    return out


def settings_logical(settings: FleetSettings, topic: str) -> str:
    prefix = settings.topic("")
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def fleet_workers(settings: FleetSettings, topology: Topology) -> list[dict[str, Any]]:
    """Every worker instance: its heartbeat (lifecycle, readiness and reasons, partitions and
    lag, last error, config fingerprint, version, commands in effect) joined to its group
    membership; a group member without a heartbeat, or a heartbeat older than STALE_AFTER_S,
    is listed as such."""
    beats = read_heartbeats(settings, TIMEOUT_S)
    groups = _groups(settings, topology)
    now_ms = int(time.time() * 1000)
    out: list[dict[str, Any]] = []
    matched: set[tuple[str, str]] = set()
    for key, beat in sorted(beats.items()):
        worker = str(beat.get("worker", key.split("/", 1)[0]))
        group = groups.get(worker, {"members": []})
        assigned = sorted(settings_logical(settings, str(a)) for a in beat.get("assignment", []))
        member = next((m for m in group["members"] if assigned and m["partitions"] == assigned), None)
        if member is not None:
            matched.add((worker, member["member_id"]))
        age_s = (now_ms - int(beat.get("sent_at_ms", 0))) / 1000
        stopped = beat.get("lifecycle") == "stopped"
        if (stopped or age_s > STALE_AFTER_S) and member is None:
            if age_s > 24 * 3600:
                continue  # long gone: compaction keeps the key, the list need not
            lifecycle = "stopped" if stopped else "unreachable"
        else:
            lifecycle = beat.get("lifecycle", "unknown")
        out.append(
            {
                "worker": worker,
                "instance": beat.get("instance", key.split("/", 1)[-1]),
                "lifecycle": lifecycle,
                "ready": bool(beat.get("ready")) and lifecycle == beat.get("lifecycle"),
                "reasons": beat.get("pause_reasons", {}),
                "backpressure": beat.get("backpressure", ""),
                "partitions": assigned,
                "lag": {k: v.get("lag", 0) for k, v in beat.get("partitions", {}).items()},
                "last_error": beat.get("last_error", ""),
                "config_fingerprint": beat.get("config_fingerprint", ""),
                "version": beat.get("version", ""),
                "control": beat.get("control", {}),
                "heartbeat_age_s": round(age_s, 3),
                "member": member,
            }
        )
    for worker, group in groups.items():
        for m in group["members"]:
            if (worker, m["member_id"]) not in matched:
                out.append(
                    {
                        "worker": worker,
                        "instance": f"{m['host']} ({m['client_id']})",
                        "lifecycle": "unknown",
                        "ready": False,
                        "reasons": {"heartbeat": "a group member without a heartbeat on fleet.heartbeats"},
                        "partitions": m["partitions"],
                        "member": m,
                    }
                )
    return out


def known_worker(topology: Topology, name: str) -> bool:
    return name in topology.workers


def group_offsets(settings: FleetSettings, topology: Topology) -> dict[str, Any]:
    """group -> per input partition: committed offset, end offset (high watermark), lag."""
    out: dict[str, Any] = {}
    for worker in topology.order():
        group = settings.group(worker)
        consumer = Consumer(clients.consumer_config(settings, group))
        try:
            parts = [
                TopicPartition(settings.topic(t), p)
                for t in topology.worker(worker).inputs
                for p in range(topology.topics[t].partitions)
            ]
            rows = []
            for tp in consumer.committed(parts, timeout=TIMEOUT_S):
                _low, high = clients.watermarks(consumer, tp.topic, tp.partition, TIMEOUT_S)
                committed = tp.offset if tp.offset >= 0 else None
                rows.append(
                    {
                        "topic": settings_logical(settings, tp.topic),
                        "partition": tp.partition,
                        "committed": committed,
                        "end": high,
                        "lag": max(0, high - (committed or 0)),
                    }
                )
            out[worker] = {"group": group, "lag": sum(r["lag"] for r in rows), "partitions": rows}
        finally:
            consumer.close()
    return out


# -- models -------------------------------------------------------------------------------


def models_dir(settings: FleetSettings) -> Path:
    return Path(TrainerSettings.of(settings).report_dir)


def list_models(settings: FleetSettings) -> list[dict[str, Any]]:
    """Each trained version under trainer.report_dir: its report's headline numbers."""
    root = models_dir(settings)
    out = []
    for d in sorted(root.iterdir() if root.exists() else [], key=lambda p: p.stat().st_mtime):
        if not (d / "model.ubj").exists():
            continue
        report = model_report(settings, d.name) or {}
        out.append(
            {
                "version": d.name,
                "trained_at_ms": int(d.stat().st_mtime * 1000),
                "has_png": (d / "report.png").exists(),
                "summary": {k: v for k, v in report.items() if not isinstance(v, (dict, list))},
            }
        )
    return out


def model_report(settings: FleetSettings, version: str) -> dict[str, Any] | None:
    path = models_dir(settings) / version / "report.json"
    if "/" in version or ".." in version or not path.exists():
        return None
    value = json.loads(path.read_text())
    return value if isinstance(value, dict) else {"report": value}


def model_png(settings: FleetSettings, version: str) -> Path | None:
    path = models_dir(settings) / version / "report.png"
    return path if "/" not in version and ".." not in version and path.exists() else None


def promote(settings: FleetSettings, version: str) -> dict[str, Any]:
    """Publish a trained version's booster as the live model (a promotion of a candidate and a
    rollback to an earlier version are the same act); NoBooster when there is none."""
    from workers.trainer.publish import publish_model, rollback_record

    record = rollback_record(settings, version)
    placed = publish_model(settings, record)
    return {"model_version": version, "sha256": record["booster_sha256"], "copies": placed}
