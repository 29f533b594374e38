"""Which of its ACLs a worker lacks, asked of the broker. A transactional producer that may not
write a topic only learns "Erroneous state" (the authorisation error stays inside librdkafka),
so after an unexplained checkpoint failure on a secured cluster the worker asks the broker
which operations it holds on its topics and names what is missing."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient

from workers.config import FleetSettings
from workers.security import errors
from workers.security.acls import worker_needs
from workers.topology import WorkerSpec

TIMEOUT_S = 3.0


def required(spec: WorkerSpec) -> dict[str, set[str]]:
    """Logical topic -> the operations the worker needs on it (acls.worker_needs)."""
    needs = worker_needs(spec)
    ops: dict[str, set[str]] = {}
    for role, op in (
        (needs.reads, "READ"),
        (needs.writes, "WRITE"),
        (needs.describe_configs, "DESCRIBE_CONFIGS"),
    ):
        for topic in role:
            ops.setdefault(topic, set()).add(op)
    return ops


def missing_access(settings: FleetSettings, spec: WorkerSpec) -> list[str]:
    """`<OPERATION> <topic>` for each operation the broker does not grant ([] when it cannot say)."""
    from workers.clients import base_config

    wanted = {settings.topic(t): ops for t, ops in required(spec).items()}
    admin = AdminClient(base_config(settings))
    futures = admin.describe_topics(
        TopicCollection(sorted(wanted)), request_timeout=TIMEOUT_S, include_authorized_operations=True
    )
    missing = []
    for name, future in futures.items():
        try:
            granted = {op.name for op in future.result(timeout=TIMEOUT_S).authorized_operations or []}
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                missing.append(f"DESCRIBE {name}")
            continue
        if AclOperation.ALL.name in granted:
            continue
        missing += [f"{op} {name}" for op in sorted(wanted[name] - granted)]
    return missing


def diagnose(settings: FleetSettings, spec: WorkerSpec, reason: str) -> str | None:
    """The explained refusal behind a failure, if it was one: from its text, or (on a secured
    cluster, when the text does not say) from the operations the broker withholds."""
    explained = errors.explain(reason)
    if explained is not None or settings.kafka.security_protocol.upper() == "PLAINTEXT":
        return explained
    try:
        missing = missing_access(settings, spec)
    except (KafkaException, RuntimeError):
        return None
    if not missing:
        return None
    return errors.explain(f"authorization failed: {spec.name} may not {', '.join(missing)} ({reason})")
