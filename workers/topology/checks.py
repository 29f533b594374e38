"""`validate`: every problem of a parsed topology file as structured errors (unknown topics,
cycles, changelogs, policies naming settings a section lacks, packages without their modules)."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from importlib.util import find_spec
from typing import Any

from workers.contracts.schemas import SCHEMA_NAMES
from workers.retry import DOMAINS
from workers.section import SectionError, find_section
from workers.topology.model import TopologyError, package_of, packages, setting

MAX_FETCH_MIN_BYTES = 1 << 20  # a fetch waits for at most this much (the consumer's prefetch is 16 MiB)


def _integer_setting(raw: Any, path: Any) -> bool:
    """`path` is `<worker or service>.<field>[.<field>...]`, an integer of that one's section."""
    name, _, rest = str(path).partition(".")
    package = packages(raw).get(name)
    try:
        section = find_section(package) if package and rest else None
        return section is not None and isinstance(setting(section.model_construct(), rest), int)
    except (AttributeError, SectionError):
        return False


def _policy_errors(name: str, spec: dict[str, Any], raw: dict[str, Any]) -> list[TopologyError]:
    where = f"workers.{name}"
    errors = []
    workers = raw["workers"]

    def bad(code: str, field_: str, message: str) -> None:
        errors.append(TopologyError(code, f"{where}.{field_}", message))

    def known_setting(path: Any) -> bool:
        return _integer_setting(raw, path)

    if spec.get("inputs") and spec.get("dead_letter") not in spec.get("outputs", []):
        bad("BAD_DEAD_LETTER", "dead_letter", f"{spec.get('dead_letter')!r} must be one of its outputs")
    for role, domain in (spec.get("retry") or {}).items():
        if role not in ("checkpoint", "reads") or domain not in DOMAINS:
            bad(
                "BAD_RETRY", f"retry.{role}", f"{role}: {domain!r}; roles checkpoint/reads, domains {DOMAINS}"
            )
    bp = spec.get("backpressure")
    if bp is not None:
        group = workers.get(bp.get("group"), {})
        if bp.get("topic") not in group.get("inputs", []):
            bad(
                "BAD_BACKPRESSURE",
                "backpressure",
                f"{bp.get('group')!r} must be a worker reading {bp.get('topic')!r}",
            )
        if not known_setting(bp.get("limit")):
            bad("BAD_BACKPRESSURE", "backpressure.limit", f"{bp.get('limit')!r} is not an integer setting")
    timeout = spec.get("unit_timeout")
    if timeout is not None:
        if not known_setting(timeout.get("limit")):
            bad("BAD_TIMEOUT", "unit_timeout.limit", f"{timeout.get('limit')!r} is not an integer setting")
        if timeout.get("on_timeout", "fail") not in ("fail", "dead_letter"):
            bad("BAD_TIMEOUT", "unit_timeout.on_timeout", "on_timeout: fail or dead_letter")
    min_bytes = spec.get("fetch_min_bytes", 1)
    if type(min_bytes) is not int or not 1 <= min_bytes <= MAX_FETCH_MIN_BYTES:
        bad("BAD_FETCH", "fetch_min_bytes", f"{min_bytes!r}: an integer from 1 to {MAX_FETCH_MIN_BYTES}")
    return errors


def validate(raw: Any) -> list[TopologyError]:
    """Every problem found, as structured errors (empty when the topology is sound)."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("topics"), dict)
        or not isinstance(raw.get("workers"), dict)
    ):
        return [TopologyError("MALFORMED", "/", "needs mappings 'topics' and 'workers'")]
    errors: list[TopologyError] = []
    topics = raw["topics"]
    for name, spec in topics.items():
        where = f"topics.{name}"
        if spec.get("cleanup_policy") not in ("delete", "compact", "compact,delete"):
            errors.append(
                TopologyError("BAD_CLEANUP_POLICY", where, f"cleanup_policy {spec.get('cleanup_policy')!r}")
            )
        p = spec.get("partitions")
        if p != "pipeline" and not (isinstance(p, int) and p > 0):
            errors.append(
                TopologyError("BAD_PARTITIONS", where, f"partitions {p!r}: 'pipeline' or a positive int")
            )
        schema = spec.get("value_schema")
        if schema is not None and schema not in SCHEMA_NAMES:
            errors.append(
                TopologyError("UNKNOWN_SCHEMA", where, f"value_schema {schema!r} is not a contract")
            )
    producers: dict[str, list[str]] = {}
    for name, spec in raw["workers"].items():
        for role in ("inputs", "outputs", "reads"):
            for topic in spec.get(role, []):
                if topic not in topics:
                    errors.append(
                        TopologyError(
                            "UNKNOWN_TOPIC",
                            f"workers.{name}.{role}",
                            f"topic {topic!r} is not declared",
                        )
                    )
        for store, topic in spec.get("stores", {}).items():
            if topic not in topics:
                errors.append(
                    TopologyError(
                        "UNKNOWN_TOPIC",
                        f"workers.{name}.stores.{store}",
                        f"changelog {topic!r} is not declared",
                    )
                )
            elif topics[topic].get("cleanup_policy") != "compact":
                errors.append(
                    TopologyError(
                        "CHANGELOG_NOT_COMPACTED",
                        f"workers.{name}.stores.{store}",
                        f"{topic} must be compacted",
                    )
                )
        for topic in spec.get("outputs", []):
            producers.setdefault(topic, []).append(name)
        errors += _policy_errors(name, spec, raw)
    changelogs = [t for spec in raw["workers"].values() for t in spec.get("stores", {}).values()]
    for topic in {t for t in changelogs if changelogs.count(t) > 1}:
        errors.append(TopologyError("DUPLICATE_NAME", f"topics.{topic}", "changelog shared by two stores"))
    errors += _package_errors(raw)
    graph: dict[str, set[str]] = {}
    for name, spec in raw["workers"].items():
        upstream = {p for t in spec.get("inputs", []) for p in producers.get(t, []) if p != name}
        graph[name] = upstream
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        errors.append(TopologyError("CYCLE", "workers", f"workers form a cycle: {' -> '.join(exc.args[1])}"))
    return errors


def _package_errors(raw: dict[str, Any]) -> list[TopologyError]:
    """A package named explicitly must exist; one that exists must hold the worker's processor
    (the service's app) and at most one settings section."""
    services = raw.get("services", {})
    if services is None or not isinstance(services, dict):
        return [TopologyError("MALFORMED", "services", "needs a mapping of service names")]
    errors = [
        TopologyError("DUPLICATE_NAME", f"services.{name}", "a worker has this name")
        for name in services
        if name in raw["workers"]
    ]
    for kind, entries, module in (("workers", raw["workers"], "processor"), ("services", services, "app")):
        for name, spec in entries.items():
            where, package = f"{kind}.{name}", package_of(name, spec)
            if not _exists(package):
                if isinstance(spec, dict) and "package" in spec:
                    errors.append(
                        TopologyError("BAD_PACKAGE", f"{where}.package", f"{package!r} cannot be imported")
                    )
                continue
            if not _exists(f"{package}.{module}"):
                errors.append(TopologyError("BAD_PACKAGE", where, f"{package} has no {module} module"))
            try:
                find_section(package)
            except SectionError as exc:
                errors.append(TopologyError("BAD_SECTION", where, str(exc)))
    return errors


def _exists(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False
