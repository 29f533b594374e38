"""Least-privilege ACLs per principal, derived from topology/fleet.yaml. Pure: no Kafka here.

What each worker is allowed, and why (the runtime call that needs it):
  READ, DESCRIBE          its inputs (group consumer), its `reads` (direct reads) and its
                          stores' changelogs (restore on assignment);
  WRITE, DESCRIBE         its outputs (dead letters included), its changelogs, fleet.config
                          (the effective configuration it records at start), fleet.heartbeats
                          (its instance's heartbeat);
  READ, DESCRIBE          fleet.control (the operators' commands, read group-less);
  DESCRIBE_CONFIGS        every topic above except fleet.config (max.message.bytes, read at start);
  READ on GROUP           its consumer group `<prefix>regime-fleet.<worker>` (also what
                          send_offsets_to_transaction needs);
  DESCRIBE on GROUP       the reader group `<prefix>regime-fleet.reader` (the control reader, restores,
                          direct reads: assign-only consumers still look up their coordinator), and
                          the group its backpressure watches (committed offsets), with DESCRIBE
                          on the topic watched;
  WRITE, DESCRIBE on      its transactional ids, PREFIXED `<prefix>regime-fleet.<worker>-`
  TRANSACTIONAL_ID        (exactly-once only).
Nothing else: no CREATE, no ALTER, no cluster resource. The topology's services (the api and
the trainer: no inputs the runtime routes) and the topic-creating job are declared below, in
the same terms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workers.topics import (
    BUFFER,
    CONFIG,
    CONTROL,
    ENRICHED,
    EVENTS,
    HEARTBEATS,
    MODELS,
    OUTCOMES,
    RAW,
    RETRAIN,
    RUNS,
)
from workers.topology import Topology, WorkerSpec

READER_GROUP = "regime-fleet.reader"  # the group id of group-less readers (runtime/clients.py)
DEFAULT_PRINCIPAL = "User:regime-fleet-{worker}"
TOPICS_JOB = "topics"  # the principal that creates topics (the chart's topic job)


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding, in Kafka's terms."""

    principal: str  # User:<name>
    resource_type: str  # TOPIC | GROUP | TRANSACTIONAL_ID
    pattern: str  # LITERAL | PREFIXED
    name: str
    operation: str  # READ | WRITE | DESCRIBE | DESCRIBE_CONFIGS | CREATE
    host: str = "*"

    def as_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource_type": self.resource_type,
            "pattern": self.pattern,
            "name": self.name,
            "operation": self.operation,
            "host": self.host,
        }


@dataclass(frozen=True)
class Needs:
    """What one worker or service does with Kafka, in logical (unprefixed) names."""

    name: str
    reads: frozenset[str] = frozenset()  # topics consumed (group or assign)
    writes: frozenset[str] = frozenset()  # topics produced
    describe_configs: frozenset[str] = frozenset()
    describe_topics: frozenset[str] = frozenset()  # watermarks only (backpressure)
    create_topics: frozenset[str] = frozenset()
    group: str | None = None  # its own consumer group (worker name)
    describe_groups: frozenset[str] = frozenset()  # worker names, or READER_GROUP
    transactional: bool = False


def worker_needs(spec: WorkerSpec, *, eos: bool = True) -> Needs:
    changelogs = frozenset(spec.stores.values())
    reads = frozenset(spec.inputs) | frozenset(spec.reads) | changelogs
    writes = frozenset(spec.outputs) | changelogs
    groups = {READER_GROUP}
    describe_topics: set[str] = set()
    if spec.backpressure is not None:
        groups.add(spec.backpressure.group)
        describe_topics.add(spec.backpressure.topic)
    return Needs(
        name=spec.name,
        reads=reads | {CONTROL},
        writes=writes | {CONFIG, HEARTBEATS},
        describe_configs=reads | writes,
        describe_topics=frozenset(describe_topics),
        group=spec.name,
        describe_groups=frozenset(groups),
        transactional=eos,
    )


def api_needs(topology: Topology) -> Needs:
    """The api worker (workers/api): admissions to market.raw, group-less tails of
    regime.events and signals.enriched, run and buffer lookups, the ingest group's lag (429
    backpressure); its control plane: commands to fleet.control, the heartbeats and every
    worker's group and offsets (GET /v1/workers, /v1/offsets), the dead letters (the console),
    replays as jobs (the replayable topics, the recorded configurations, the models)."""
    workers = topology.workers.values()
    dead_letters = {w.dead_letter for w in workers if w.dead_letter}
    return Needs(
        name="api",
        reads=frozenset(
            {EVENTS, ENRICHED, RUNS, BUFFER, RAW, MODELS, CONFIG, CONTROL, HEARTBEATS} | dead_letters
        ),
        writes=frozenset({RAW, CONTROL}),
        describe_topics=frozenset(t for w in workers for t in w.inputs),
        describe_groups=frozenset({READER_GROUP, *topology.workers}),
    )


def trainer_needs() -> Needs:
    """The trainer job runner (workers/trainer): its triggers in its own group, whole-topic
    reads of the outcomes, the enriched signals and the models, models out (not transactional)."""
    return Needs(
        name="trainer",
        reads=frozenset({RETRAIN, OUTCOMES, ENRICHED, MODELS}),
        writes=frozenset({MODELS}),
        group="trainer",
        describe_groups=frozenset({READER_GROUP}),
    )


def topics_job_needs(topology: Topology) -> Needs:
    """`regime-fleet topics create|verify` (the chart's topic job) without a super user."""
    names = frozenset(topology.topics)
    return Needs(name=TOPICS_JOB, create_topics=names, describe_configs=names, describe_topics=names)


def fleet_needs(topology: Topology, *, eos: bool = True, services: bool = True) -> list[Needs]:
    """Every worker of the topology (upstream first), then the api, the trainer and the topic job."""
    needs = [worker_needs(topology.workers[w], eos=eos) for w in topology.order()]
    if services:
        needs += [api_needs(topology), trainer_needs(), topics_job_needs(topology)]
    return needs


def acls_for(needs: Needs, principal: str, prefix: str) -> list[Acl]:
    """The bindings that grant `needs` to `principal`; resources carry the topic prefix."""
    out: set[Acl] = set()

    def grant(resource: str, name: str, *ops: str, pattern: str = "LITERAL") -> None:
        out.update(Acl(principal, resource, pattern, name, op) for op in ops)

    for topic in needs.reads:
        grant("TOPIC", prefix + topic, "READ", "DESCRIBE")
    for topic in needs.writes:
        grant("TOPIC", prefix + topic, "WRITE", "DESCRIBE")
    for topic in needs.describe_configs:
        grant("TOPIC", prefix + topic, "DESCRIBE_CONFIGS")
    for topic in needs.describe_topics:
        grant("TOPIC", prefix + topic, "DESCRIBE")
    for topic in needs.create_topics:
        grant("TOPIC", prefix + topic, "CREATE")
    if needs.group is not None:
        grant("GROUP", group_id(prefix, needs.group), "READ")
    for group in needs.describe_groups:
        grant("GROUP", group_id(prefix, group), "DESCRIBE")
    if needs.transactional and needs.group is not None:
        grant(
            "TRANSACTIONAL_ID", group_id(prefix, needs.group) + "-", "WRITE", "DESCRIBE", pattern="PREFIXED"
        )
    return sorted(out)


def group_id(prefix: str, worker: str) -> str:
    """As FleetSettings.group; READER_GROUP is already a full (unprefixed) group id."""
    return f"{prefix}{worker}" if worker == READER_GROUP else f"{prefix}regime-fleet.{worker}"


def principal_for(template: str) -> Callable[[str], str]:
    """`User:regime-fleet-{worker}` -> one principal per worker; a template without `{worker}`
    gives every worker the same principal (the union of their ACLs)."""
    if not template.startswith("User:"):
        raise ValueError(f"principal template {template!r} must start with 'User:'")
    return lambda worker: template.replace("{worker}", worker)


def plan(
    topology: Topology,
    prefix: str,
    principal: Callable[[str], str],
    *,
    eos: bool = True,
    only: Iterable[str] | None = None,
) -> list[Acl]:
    """The whole fleet's ACLs (deduplicated, sorted); `only` keeps those workers/services."""
    wanted = set(only) if only is not None else None
    acls: set[Acl] = set()
    for needs in fleet_needs(topology, eos=eos):
        if wanted is None or needs.name in wanted:
            acls.update(acls_for(needs, principal(needs.name), prefix))
    return sorted(acls)


@dataclass(frozen=True)
class Drift:
    missing: list[Acl]  # planned, not on the broker
    extra: list[Acl]  # on the broker for a planned principal, not planned

    @property
    def clean(self) -> bool:
        return not self.missing and not self.extra


def drift(planned: Iterable[Acl], actual: Iterable[Acl], prefix: str = "") -> Drift:
    """Compare the plan with what the broker holds for the same principals on resources under
    the topic prefix (fleets with other prefixes may share the principals)."""
    want, have = set(planned), set(actual)
    principals = {a.principal for a in want}
    have = {a for a in have if a.principal in principals and a.name.startswith(prefix)}
    return Drift(missing=sorted(want - have), extra=sorted(have - want))


_OPERATION = {
    "READ": "Read",
    "WRITE": "Write",
    "DESCRIBE": "Describe",
    "DESCRIBE_CONFIGS": "DescribeConfigs",
    "CREATE": "Create",
}
_RESOURCE = {"TOPIC": "--topic", "GROUP": "--group", "TRANSACTIONAL_ID": "--transactional-id"}


def kafka_acls_commands(
    acls: Iterable[Acl], bootstrap: str = "$BOOTSTRAP", action: str = "--add"
) -> list[str]:
    """The same bindings as `kafka-acls.sh` command lines, one per principal and resource."""
    grouped: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    for a in sorted(acls):
        grouped[(a.principal, a.resource_type, a.pattern, a.name, a.host)].append(a.operation)
    lines = []
    for (principal, rtype, pattern, name, host), ops in grouped.items():
        parts = [
            "kafka-acls.sh",
            f"--bootstrap-server {bootstrap}",
            "--command-config admin.properties",
            action,
            f"--allow-principal {principal}",
        ]
        if host != "*":
            parts.append(f"--allow-host {host}")
        parts += [f"--operation {_OPERATION.get(op, op)}" for op in ops]
        parts.append(f"{_RESOURCE[rtype]} {name}")
        if pattern != "LITERAL":
            parts.append(f"--resource-pattern-type {pattern.lower()}")
        lines.append(" ".join(parts))
    return lines
