"""One settings model for the whole fleet: defaults < YAML file (--config) < environment.

Environment variables use the prefix REGIME_FLEET_ and `__` between levels, e.g.
REGIME_FLEET_SCHEDULER__INTERVAL_MS=60000.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from workers.retry import DOMAINS, RetryPolicy


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
    fault_file: Path | None = Field(
        None, description="Fault injection for tests: 'state:<partition>' / 'produce:<partition>' lines."
    )
    shutdown_deadline_s: float = Field(30.0, gt=0)
    rocksdb_block_cache_mb: int = Field(32, ge=1)
    rocksdb_write_buffer_mb: int = Field(8, ge=1)


class IngestSettings(BaseModel):
    dedupe_window: int = Field(10_000, ge=0, description="Recent event_ids remembered per partition.")
    min_event_ts_ms: int = 315_532_800_000  # 1980-01-01
    max_event_ts_ms: int = 4_102_444_800_000  # 2100-01-01
    max_future_ms: int = Field(
        86_400_000, ge=0, description="Events stamped further ahead of the wall clock are dead-lettered."
    )
    buffer_capacity: int = Field(0, ge=0, description="Pause when the scheduler lags more records (0: off).")


class SchedulerSettings(BaseModel):
    mode: Literal["boundary", "timer"] = "boundary"
    interval_ms: int = Field(60_000, ge=1)
    max_inflight_runs: int = Field(0, ge=0, description="Pause when the publisher lags more runs (0: off).")


# The settings sections that can change what the fleet publishes (see output_config).
OUTPUT_SECTIONS = ("ingest", "scheduler", "engine", "enricher", "labeler")

# Engine settings that change how a run is executed, not what it computes.
ENGINE_RUNTIME_ONLY = {"max_attempts", "fail_symbols", "run_timeout_ms"}


class EngineSettings(BaseModel):
    mode: Literal["truth", "hysteresis"] = "truth"
    trend_threshold: float = Field(0.5, gt=0, description="|drift t-stat| above which a trend is called.")
    high_vol_ratio: float = Field(1.5, gt=1, description="Recent vol / long vol above which HIGH_VOLATILITY.")
    vol_lookback: int = Field(20, ge=2)
    vol_ceiling: float = Field(0.45, gt=0, description="Annualized vol at or above which HIGH_VOLATILITY.")
    progress_required: int = Field(3, ge=1, description="Hysteresis: agreeing runs to confirm a switch.")
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Hysteresis: weaker observations do not count."
    )
    max_attempts: int = Field(3, ge=1)
    run_timeout_ms: int = Field(
        30_000, ge=1, description="A run that takes longer fails with TIMEOUT (not replayable: say so)."
    )
    fail_symbols: list[str] = Field(default_factory=list, description="Fault injection: runs of these fail.")


REGIMES = ("TREND_UP", "TREND_DOWN", "RANGE", "HIGH_VOLATILITY")


class SideWeights(BaseModel):
    """A regime's full-confidence weights for long and short signals (flat signals weigh 1)."""

    long: float = Field(1.0, ge=0, le=1)
    short: float = Field(1.0, ge=0, le=1)


def _default_regime_weights() -> dict[str, SideWeights]:
    """Against the trend counts least; a range or high volatility trims both sides."""
    return {
        "TREND_UP": SideWeights(long=1.0, short=0.3),
        "TREND_DOWN": SideWeights(long=0.3, short=1.0),
        "RANGE": SideWeights(long=0.8, short=0.8),
        "HIGH_VOLATILITY": SideWeights(long=0.5, short=0.5),
    }


class EnricherSettings(BaseModel):
    """The enricher (docs/enrichment.md): features, VPIN, regime weight, the meta-model."""

    return_horizons: list[int] = Field(
        default_factory=lambda: [1, 5, 20], description="Log returns over these many prices."
    )
    vol_horizons: list[int] = Field(
        default_factory=lambda: [5, 20, 60], description="Realised volatility over these many returns."
    )
    vpin_buckets: int = Field(50, ge=1, le=1000, description="VPIN averages the last n volume buckets.")
    vpin_buckets_per_day: int = Field(50, ge=1, description="Bucket volume = average daily volume / this.")
    vpin_bucket_volume: float = Field(0.0, ge=0, description="A fixed bucket volume (0: from the ADV).")
    vpin_adv_days: int = Field(20, ge=1, le=250, description="Completed days the ADV averages.")
    vpin_sigma_halflife: int = Field(
        50, ge=1, description="Half-life, in returns, of the return volatility that classifies volume."
    )
    regime_history: int = Field(32, ge=1, le=1000, description="Regime decisions kept per symbol.")
    max_pending: int = Field(
        256, ge=1, description="Market records per symbol held for signals not yet seen (event time)."
    )
    signal_features: list[str] = Field(
        default_factory=lambda: ["ma_spread"],
        description="Entries of a signal's features map the model uses; a signal without them is rejected.",
    )
    max_signal_features: int = Field(64, ge=1, description="A larger features map is rejected.")
    regime_weights: dict[str, SideWeights] = Field(default_factory=_default_regime_weights)
    unknown_regime_weight: float = Field(0.5, ge=0, le=1, description="Weight while a symbol has no regime.")
    model_name: str = Field("meta", min_length=1, description="The key on the models topic to follow.")

    @field_validator("return_horizons", "vol_horizons")
    @classmethod
    def _horizons(cls, value: list[int]) -> list[int]:
        if not value or any(h < 1 or h > 1000 for h in value) or len(set(value)) != len(value):
            raise ValueError("horizons must be distinct integers in 1..1000")
        return sorted(value)

    @field_validator("regime_weights")
    @classmethod
    def _regimes(cls, value: dict[str, SideWeights]) -> dict[str, SideWeights]:
        unknown = sorted(set(value) - set(REGIMES))
        if unknown:
            raise ValueError(f"unknown regime(s) {unknown}; regimes: {list(REGIMES)}")
        return {**_default_regime_weights(), **value}

    def fingerprint(self) -> str:
        """Hash of everything that changes an enriched signal (recorded in its provenance)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class BarrierSettings(BaseModel):
    """Triple-barrier labels (docs/training.md): barriers in sigmas, the vertical one in observations."""

    profit_taking: float = Field(2.0, gt=0)
    stop_loss: float = Field(2.0, gt=0)
    max_hold: int = Field(20, ge=1, le=10_000, description="Observations before the vertical barrier.")
    vol_horizon: int = Field(
        20, ge=1, description="sigma = vol_h / sqrt(h) of the enriched signal (h in enricher.vol_horizons)."
    )


class LabelerSettings(BaseModel):
    """The labeler/monitor worker: outcomes of enriched signals and retrain triggers."""

    barriers: BarrierSettings = Field(default_factory=lambda: BarrierSettings())
    history: int = Field(
        64, ge=1, le=10_000, description="Recent observations kept per symbol for late signals."
    )
    max_open: int = Field(
        1000, ge=1, description="Open signals per symbol; the oldest resolve VERTICAL beyond it."
    )
    window: int = Field(200, ge=10, description="Outcomes in the rolling accuracy per model version.")
    min_samples: int = Field(50, ge=1, description="Outcomes before accuracy can trigger.")
    accuracy_drop: float = Field(
        0.1, gt=0, le=1, description="Trigger below the model's validation accuracy minus this."
    )
    retrain_every: int = Field(0, ge=0, description="Trigger after this many outcomes of one model (0: off).")


class TrainerSettings(BaseModel):
    """Training (regime-fleet train, the trainer worker): data, purged CV, XGBoost, the gate."""

    barriers: BarrierSettings = Field(default_factory=lambda: BarrierSettings())
    min_bars: int = Field(1000, ge=1, description="Fewer bars is an error.")
    min_samples: int = Field(100, ge=2, description="Fewer labelled signals is an error.")
    folds: int = Field(5, ge=2, le=50)
    embargo_ms: int = Field(0, ge=0, description="Gap between a fold's training labels and its test period.")
    rounds: int = Field(200, ge=1)
    max_depth: int = Field(4, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    seed: int = 0
    nthread: int = Field(1, ge=1, description="Fixed, so the same data gives a byte-identical booster.")
    auc_floor: float = Field(
        0.5, ge=0, le=1, description="A candidate below this validation AUC is rejected."
    )
    fast: int = Field(5, ge=1, description="Primary strategy (MA crossover) for bar data: fast window.")
    slow: int = Field(20, ge=2, description="... and slow window.")
    report_dir: Path = Field(Path("state/models"), description="Boosters and training reports, by version.")


class ApiSettings(BaseModel):
    """The api worker (workers/api, docs/api.md): HTTP admission, lookups and SSE streams."""

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port.")
    tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens of write endpoints (JSON list; never logged)."
    )
    tokens_file: Path | None = Field(None, description="A mounted Secret: one more token per line.")
    protect_reads: bool = Field(False, description="Read endpoints need a token too.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins ('*': any).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies answer 413.")
    max_batch_events: int = Field(1000, ge=1)
    ingest_lag_limit: int = Field(
        100_000,
        ge=0,
        description="429 while ingest lags more records on market.raw; resume at half (0: off).",
    )
    lag_interval_s: float = Field(0.5, gt=0, description="How often the ingest lag is measured.")
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a 429.")
    dedupe_window: int = Field(100_000, ge=0, description="(symbol, event_id) admissions remembered.")
    sse_queue_size: int = Field(1000, ge=1, description="Events queued per SSE client before it is dropped.")
    sse_history: int = Field(5000, ge=0, description="Recent events per partition kept for resumption.")
    sse_heartbeat_s: float = Field(15.0, gt=0)
    sse_send_timeout_s: float = Field(
        10.0, gt=0, description="A client that takes longer to read is dropped."
    )
    max_sse_clients: int = Field(1000, ge=1)
    lookup_timeout_s: float = Field(60.0, gt=0, description="Bound on /v1/runs and /v1/provenance reads.")


def _default_retries() -> dict[str, RetryPolicy]:
    """Reads retry fast; checkpoints back off from 0.5 s to 10 s between paused attempts."""
    checkpoint = RetryPolicy(base_delay_s=0.5, max_delay_s=10.0)
    return {domain: RetryPolicy() if domain == "buffer" else checkpoint for domain in DOMAINS}


class FleetSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REGIME_FLEET_", env_nested_delimiter="__", extra="forbid", yaml_file=None
    )

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
    ingest: IngestSettings = Field(default_factory=lambda: IngestSettings())
    scheduler: SchedulerSettings = Field(default_factory=lambda: SchedulerSettings())
    engine: EngineSettings = Field(default_factory=lambda: EngineSettings())
    enricher: EnricherSettings = Field(default_factory=lambda: EnricherSettings())
    labeler: LabelerSettings = Field(default_factory=lambda: LabelerSettings())
    trainer: TrainerSettings = Field(default_factory=lambda: TrainerSettings())
    api: ApiSettings = Field(default_factory=lambda: ApiSettings())
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

    def config_fingerprint(self) -> str:
        """Hash of the settings that change what the engine computes (not where it runs)."""
        relevant = {
            "scheduler": self.scheduler.model_dump(mode="json"),
            "engine": self.engine.model_dump(mode="json", exclude=ENGINE_RUNTIME_ONLY),
        }
        blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def output_config(self) -> dict[str, Any]:
        """Every setting that can change what the fleet publishes (never a secret): what a
        worker records on fleet.config and a replay must reproduce."""
        return {
            "partitions": self.partitions,
            "ingest": self.ingest.model_dump(mode="json", exclude={"buffer_capacity"}),
            "scheduler": self.scheduler.model_dump(mode="json", exclude={"max_inflight_runs"}),
            "engine": self.engine.model_dump(mode="json", exclude={"run_timeout_ms"}),
            "enricher": self.enricher.model_dump(mode="json"),
            "labeler": self.labeler.model_dump(mode="json"),
        }

    def explicit_output_keys(self) -> set[str]:
        """Dotted output-config keys set explicitly (environment, file, arguments), not defaulted."""
        keys = {"partitions"} & self.model_fields_set
        for section in OUTPUT_SECTIONS:
            if section in self.model_fields_set:
                keys |= {f"{section}.{k}" for k in getattr(self, section).model_fields_set}
        return keys

    def with_output_config(self, config: dict[str, Any], keep: frozenset[str] = frozenset()) -> FleetSettings:
        """These settings with a recorded output config, except the dotted keys in `keep`."""
        update: dict[str, Any] = {}
        if "partitions" not in keep and "partitions" in config:
            update["partitions"] = config["partitions"]
        for section in OUTPUT_SECTIONS:
            current = getattr(self, section)
            recorded = {k: v for k, v in config.get(section, {}).items() if f"{section}.{k}" not in keep}
            update[section] = type(current).model_validate({**current.model_dump(), **recorded})
        return self.model_copy(update=update)

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON, secrets shown as '**********'."""
        return json.loads(self.model_dump_json())  # type: ignore[no-any-return]


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> FleetSettings:
    """Build settings or raise ConfigError naming each bad key."""
    cls: type[FleetSettings] = FleetSettings
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        cls = type(
            "FileFleetSettings",
            (FleetSettings,),
            {"model_config": {**FleetSettings.model_config, "yaml_file": str(path)}},
        )
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
