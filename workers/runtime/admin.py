"""Create and verify the fleet's topics from the topology."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from workers.clients import base_config
from workers.config import FleetSettings
from workers.topology import Topology


class TopicMismatch(Exception):
    """An existing topic differs from the topology; Kafka cannot fix that in place."""


@dataclass(frozen=True)
class TopicReport:
    name: str
    action: str  # created | exists | mismatch
    detail: str = ""


def ensure_topics(settings: FleetSettings, topology: Topology, *, create: bool = True) -> list[TopicReport]:
    """Create missing topics; report existing ones and any mismatch (partitions, cleanup.policy)."""
    admin = AdminClient(base_config(settings))
    existing = admin.list_topics(timeout=15).topics
    reports: list[TopicReport] = []
    missing = []
    for spec in topology.topics.values():
        name = settings.topic(spec.name)
        if name not in existing:
            rf = settings.replication_factor
            configs = {**spec.configs(), "min.insync.replicas": str(max(1, min(2, rf - 1)))}
            missing.append(NewTopic(name, spec.partitions, rf, config=configs))
            continue
        detail = []
        have = len(existing[name].partitions)
        if have != spec.partitions:
            detail.append(f"partitions {have} != {spec.partitions}")
        policy = _cleanup_policy(admin, name)
        if policy != spec.cleanup_policy:
            detail.append(f"cleanup.policy {policy} != {spec.cleanup_policy}")
        reports.append(TopicReport(name, "mismatch" if detail else "exists", "; ".join(detail)))
    if missing and create:
        for name, future in admin.create_topics(missing, operation_timeout=30).items():
            try:
                future.result()
                reports.append(TopicReport(name, "created"))
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" in str(exc):
                    reports.append(TopicReport(name, "exists"))
                else:
                    raise
    elif missing:
        reports.extend(TopicReport(t.topic, "missing") for t in missing)
    return sorted(reports, key=lambda r: r.name)


def topic_limits(settings: FleetSettings, topics: list[str], ceiling: int) -> dict[str, int]:
    """Logical topic -> the largest record it accepts (its max.message.bytes, at most `ceiling`).
    TopicMismatch when one is missing or the co-partitioned topics differ in partition count."""
    admin = AdminClient(base_config(settings))
    existing = admin.list_topics(timeout=15).topics
    found = {}
    for topic in topics:
        name = settings.topic(topic)
        if name not in existing or existing[name].error is not None:
            _raise_if_refused(admin, name)
            raise TopicMismatch(f"topic {name} does not exist: run `regime-fleet topics create`")
        found[topic] = len(existing[name].partitions)
    if len(set(found.values())) > 1:
        raise TopicMismatch(f"co-partitioned topics differ in partition count: {found}")
    resources = [ConfigResource(ResourceType.TOPIC, settings.topic(t)) for t in topics]
    limits = {}
    for resource, future in admin.describe_configs(resources).items():
        configs = future.result(timeout=15)
        limits[resource.name] = int(configs["max.message.bytes"].value)
    return {t: min(limits[settings.topic(t)], ceiling) for t in topics}


def delete_topics(settings: FleetSettings, names: list[str]) -> None:
    admin = AdminClient(base_config(settings))
    for future in admin.delete_topics(names, operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in str(exc):
                raise


def _raise_if_refused(admin: AdminClient, topic: str) -> None:
    """A topic this principal may not describe is left out of the full listing: asked for by
    name, the broker says whether it is missing or refused (KafkaException)."""
    meta = admin.list_topics(topic, timeout=15).topics.get(topic)
    if (
        meta is not None
        and meta.error is not None
        and meta.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    ):
        raise KafkaException(meta.error)


def _cleanup_policy(admin: AdminClient, topic: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=15)
    return str(configs["cleanup.policy"].value)
