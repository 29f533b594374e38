"""One settings model for the whole fleet: defaults < YAML file (--config) < environment.

Environment variables use the prefix REGIME_FLEET_ and `__` between levels, e.g.
REGIME_FLEET_SCHEDULER__INTERVAL_MS=60000. This module holds the fleet-wide settings; each
worker's and service's section is declared in its own folder (`<package>/settings.py`, see
workers/section.py) and joins FleetSettings under its topology name, found from
topology/fleet.yaml: nothing here names a worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from workers.retry import DOMAINS, RetryPolicy
from workers.section import NOT_IN_RUN, RUNTIME_ONLY, Mark, Section, SectionError, find_section
from workers.topology import packages, read_topology, topology_path


class ConfigError(Exception):
    """Configuration that cannot start a worker; the message names the key."""


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(
        default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""
    ssl_key_password: SecretStr = SecretStr("")
    schema_registry_url: str = ""
    schema_registry_basic_auth: SecretStr = SecretStr("")
    extra: dict[str, str] = Field(default_factory=dict, description="More librdkafka properties.")

    def client_config(self) -> dict[str, str]:
        """librdkafka properties, secrets included: never log the result."""
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value(),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password.get_secret_value(),
        }
        conf.update({k: v for k, v in optional.items() if v})
        conf.update(self.extra)
        return conf

    def registry_config(self) -> dict[str, str]:
        auth = self.schema_registry_basic_auth.get_secret_value()
        return {"basic.auth.user.info": auth} if auth else {}


class RuntimeSettings(BaseModel):
    processing_guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    commit_interval_ms: int = Field(
        50, ge=0, description="Longest a checkpoint stays open while input keeps arriving."
    )
    commit_idle_ms: int = Field(
        10, ge=0, description="Commit once no input has arrived for this long (0: only at the interval)."
    )
    batch_size: int = Field(500, ge=1, le=100_000)
    poll_timeout_ms: int = Field(100, ge=1)
    max_poll_interval_ms: int = Field(300_000, ge=10_000)
    session_timeout_ms: int = Field(10_000, ge=6_000)
    # Short, so a killed worker's open transaction stops blocking read_committed readers soon
    # even when its successor cannot fence it (docs/reliability.md).
    transaction_timeout_ms: int = Field(10_000, ge=1_000)
    kafka_call_timeout_s: float = Field(
        10.0, gt=0, description="Bound on every blocking client call (transactions, commits, metadata)."
    )
    state_dir: Path = Path("state")
    http_port: int = Field(0, ge=0, le=65535, description="0 picks a free port.")
    http_host: str = Field(
        "0.0.0.0", description="Bind address of /status, /metrics, /healthz, /readyz (unauthenticated)."
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable identity of this instance (pod name, StatefulSet ordinal): part of the transactional.id.",
    )
    shutdown_deadline_s: float = Field(30.0, gt=0)
    compiled_codec: bool = Field(
        True,
        description="Write and read Avro bodies with the compiled codec (native/) where installed; "
        "false: fastavro only (the same bytes and values, about ten times the CPU per record).",
    )
    # Failover levers (docs/reliability.md, "Failover levers", has what each one measured).
    group_protocol: Literal["classic", "consumer"] = Field(
        "classic",
        description="classic: eager range assignment (co-partitioned inputs on one member); "
        "consumer: KIP-848, server-side range assignor (single-input workers only).",
    )
    static_membership: bool = Field(
        False,
        description="group.instance.id = <instance_id>-<slot>: a restarted worker gets its partitions "
        "back without a rebalance (classic protocol). Off by default: a clean stop does not leave "
        "the group, so a scale-down's partitions wait out session_timeout_ms; a pinned slot turns "
        "it on (docs/reliability.md).",
    )
    slot: int | None = Field(
        None,
        ge=0,
        description="Hold exactly this slot, waiting (a warm standby, not ready) while another process "
        "of the same identity holds it; None: the lowest free slot (docs/reliability.md).",
    )
    reconnect_backoff_ms: int = Field(100, ge=10, description="First reconnect delay after a broker drops.")
    reconnect_backoff_max_ms: int = Field(
        1_000,
        ge=10,
        description="Longest reconnect delay (librdkafka's default, 10 s, hides a restarted broker).",
    )
    metadata_refresh_interval_ms: int = Field(
        5_000,
        ge=1_000,
        description="Periodic metadata refresh: a restarted broker's leaders are known within it.",
    )
    socket_timeout_ms: int = Field(
        10_000, ge=1_000, description="A request without an answer fails after this."
    )
    socket_connection_setup_timeout_ms: int = Field(
        3_000, ge=1_000, description="A connection attempt to a broker that does not answer fails after this."
    )
    rebuild_timeout_s: float = Field(
        240.0,
        gt=0,
        description="Bound on rebuilding a partition's stores from its input topics (below "
        "max_poll_interval_ms: the consumer is not polled meanwhile).",
    )
    rocksdb_block_cache_mb: int = Field(32, ge=1)
    rocksdb_write_buffer_mb: int = Field(8, ge=1)


def _default_retries() -> dict[str, RetryPolicy]:
    """Reads retry fast; checkpoints back off from 0.5 s to 10 s between paused attempts."""
    checkpoint = RetryPolicy(base_delay_s=0.5, max_delay_s=10.0)
    return {domain: RetryPolicy() if domain == "buffer" else checkpoint for domain in DOMAINS}


class FleetWideSettings(BaseSettings):
    """The settings every worker shares, and what is derived from all sections together. The
    sections join in `settings_class`; `FleetSettings` is this class with them."""

    model_config = SettingsConfigDict(
        env_prefix="REGIME_FLEET_", env_nested_delimiter="__", extra="forbid", yaml_file=None
    )

    # Set on each composed class: its sections, and the package of every topology name.
    sections: ClassVar[dict[str, type[Section]]] = {}
    section_names: ClassVar[dict[type[Section], str]] = {}
    packages: ClassVar[dict[str, str]] = {}

    topic_prefix: str = ""
    partitions: int = Field(3, ge=1, le=1024)
    replication_factor: int = Field(
        1,
        ge=1,
        le=16,
        description="Of every topic created; min.insync.replicas is min(2, rf - 1), at least 1.",
    )
    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings())
    runtime: RuntimeSettings = Field(default_factory=lambda: RuntimeSettings())
    retry: dict[str, RetryPolicy] = Field(default_factory=_default_retries, description="Per failure domain.")

    @field_validator("retry")
    @classmethod
    def _known_domains(cls, value: dict[str, RetryPolicy]) -> dict[str, RetryPolicy]:
        unknown = sorted(set(value) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown retry domain(s) {unknown}; domains: {list(DOMAINS)}")
        return {**_default_retries(), **value}

    def retry_policy(self, domain: str) -> RetryPolicy:
        return self.retry.get(domain) or RetryPolicy()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, worker: str) -> str:
        return f"{self.topic_prefix}regime-fleet.{worker}"

    def section(self, name: str) -> Any:
        """A section by its topology name, untyped: for a library that must not import the
        worker's package (a cycle). Typed: `<Section>.of(settings)`."""
        if name not in self.sections:
            raise SectionError(f"no settings section {name!r}; sections: {sorted(self.sections)}")
        return getattr(self, name)

    def _recorded(self) -> dict[str, type[Section]]:
        return {name: section for name, section in self.sections.items() if section.recorded}

    def _dump(self, name: str, leave_out: Mark) -> dict[str, Any]:
        """Section `name` as JSON values, without its fields marked `leave_out`."""
        section: Section = self.section(name)
        return section.model_dump(mode="json", exclude=section.marked(leave_out))

    def config_fingerprint(self) -> str:
        """Hash of the settings that change what the engine computes (not where it runs)."""
        relevant = {
            name: self._dump(name, leave_out=NOT_IN_RUN)
            for name, section in self.sections.items()
            if section.in_run_fingerprint
        }
        blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def output_config(self) -> dict[str, Any]:
        """Every setting that can change what the fleet publishes (never a secret): what a
        worker records on fleet.config and a replay must reproduce."""
        config: dict[str, Any] = {"partitions": self.partitions}
        for name in self._recorded():
            config[name] = self._dump(name, leave_out=RUNTIME_ONLY)
        return config

    def explicit_output_keys(self) -> set[str]:
        """Dotted output-config keys set explicitly (environment, file, arguments), not defaulted."""
        keys = {"partitions"} & self.model_fields_set
        for name in self._recorded():
            if name in self.model_fields_set:
                keys |= {f"{name}.{k}" for k in self.section(name).model_fields_set}
        return keys

    def with_output_config(
        self, config: dict[str, Any], keep: frozenset[str] = frozenset()
    ) -> FleetWideSettings:
        """These settings with a recorded output config, except the dotted keys in `keep`."""
        update: dict[str, Any] = {}
        if "partitions" not in keep and "partitions" in config:
            update["partitions"] = config["partitions"]
        for name in self._recorded():
            current = self.section(name)
            recorded = {k: v for k, v in config.get(name, {}).items() if f"{name}.{k}" not in keep}
            update[name] = type(current).model_validate({**current.model_dump(), **recorded})
        return self.model_copy(update=update)

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON, secrets shown as '**********'."""
        return json.loads(self.model_dump_json())  # type: ignore[no-any-return]


def settings_class(by_name: Mapping[str, str]) -> type[FleetWideSettings]:
    """FleetWideSettings with the section of each worker or service (name -> package) that
    declares one, under its name: one class per set of sections."""
    sections: dict[str, type[Section]] = {}
    for name, package in by_name.items():
        try:
            section = find_section(package)
        except SectionError as exc:
            raise ConfigError(f"settings section of {name!r}: {exc}") from exc
        if section is not None:
            sections[name] = section
    return _composed(tuple(sections.items()), tuple(by_name.items()))


@cache
def _composed(
    sections: tuple[tuple[str, type[Section]], ...], packages: tuple[tuple[str, str], ...]
) -> type[FleetWideSettings]:
    fields: dict[str, Any] = {name: (section, Field(default_factory=section)) for name, section in sections}
    composed = create_model("FleetSettings", __base__=FleetWideSettings, **fields)
    composed.sections = dict(sections)
    composed.section_names = {section: name for name, section in sections}
    composed.packages = dict(packages)
    return composed


def _topology_settings(path: Path | None = None) -> type[FleetWideSettings]:
    """The settings class of topology/fleet.yaml's (or `path`'s) workers and services."""
    file = path or topology_path()
    if not file.exists():
        raise ConfigError(f"topology file {file} does not exist (set REGIME_FLEET_TOPOLOGY)")
    return settings_class(packages(read_topology(file)))


if TYPE_CHECKING:
    FleetSettings = FleetWideSettings
else:
    FleetSettings = _topology_settings()


def load_settings(
    config_file: str | Path | None = None, *, topology: Path | None = None, **overrides: Any
) -> FleetSettings:
    """Build settings or raise ConfigError naming each bad key; with `topology`, the sections
    are those of that file's workers and services instead of topology/fleet.yaml's."""
    cls = FleetSettings if topology is None else _topology_settings(topology)
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        config = {**cls.model_config, "yaml_file": str(path)}
        cls = cast(type[FleetWideSettings], type("FileFleetSettings", (cls,), {"model_config": config}))
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
