"""The recorded configuration and the fingerprints, pinned to the values computed before the
settings sections moved into the workers' folders: provenance and replays compare them byte for byte."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workers.config import FleetSettings, load_settings
from workers.enricher.settings import EnricherSettings
from workers.trainer.settings import TrainerSettings

DEFAULT_FINGERPRINT = "7c0bb9649995a2a9"
DEFAULT_ENRICHER_FINGERPRINT = "2d82a86d760e6fc2"
DEFAULT_TRAINER_FINGERPRINT = "2c087bd10a17f93e"  # a training report's settings_fingerprint
# (issue 23 changed the trainer's defaults and added calibration and gate settings: reports of
# models trained since record a new one, as they should; the trainer records nothing on fleet.config)
DEFAULT_OUTPUT = (
    '{"partitions": 3, "ingest": {"dedupe_window": 10000, "min_event_ts_ms": 315532800000, '
    '"max_event_ts_ms": 4102444800000, "max_future_ms": 86400000}, "scheduler": {"mode": "boundary", '
    '"interval_ms": 60000}, "engine": {"mode": "truth", "trend_threshold": 0.5, "high_vol_ratio": 1.5, '
    '"vol_lookback": 20, "vol_ceiling": 0.45, "progress_required": 3, "min_confidence": 0.0, '
    '"max_attempts": 3, "fail_symbols": []}, "enricher": {"return_horizons": [1, 5, 20], '
    '"vol_horizons": [5, 20, 60], "vpin_buckets": 50, "vpin_buckets_per_day": 50, '
    '"vpin_bucket_volume": 0.0, "vpin_adv_days": 20, "vpin_sigma_halflife": 50, "regime_history": 32, '
    '"max_pending": 256, "signal_features": ["ma_spread"], "max_signal_features": 64, "regime_weights": '
    '{"TREND_UP": {"long": 1.0, "short": 0.3}, "TREND_DOWN": {"long": 0.3, "short": 1.0}, "RANGE": '
    '{"long": 0.8, "short": 0.8}, "HIGH_VOLATILITY": {"long": 0.5, "short": 0.5}}, '
    '"unknown_regime_weight": 0.5, "model_name": "meta"}, "labeler": {"barriers": {"profit_taking": 2.0, '
    '"stop_loss": 2.0, "max_hold": 20, "vol_horizon": 20}, "history": 64, "max_open": 1000, '
    '"window": 200, "min_samples": 50, "accuracy_drop": 0.1, "retrain_every": 0}}'
)

# Every section changed, runtime-only keys included (they must stay out of what is recorded).
CHANGED: dict[str, Any] = {
    "partitions": 6,
    "ingest": {"dedupe_window": 5, "buffer_capacity": 7},
    "scheduler": {"mode": "timer", "interval_ms": 5000, "max_inflight_runs": 9},
    "engine": {
        "mode": "hysteresis",
        "trend_threshold": 0.7,
        "progress_required": 2,
        "max_attempts": 5,
        "run_timeout_ms": 1000,
    },
    "enricher": {
        "vpin_buckets": 5,
        "return_horizons": [20, 2],
        "regime_weights": {"RANGE": {"long": 0.6, "short": 0.4}},
    },
    "labeler": {"window": 100, "barriers": {"max_hold": 7}},
    "trainer": {"rounds": 3},
    "api": {"port": 9},
}
CHANGED_FINGERPRINT = "3a1460df099bb1af"
CHANGED_ENRICHER_FINGERPRINT = "4f9da89e5bc6154c"
CHANGED_TRAINER_FINGERPRINT = "c39d91761bebda80"
CHANGED_OUTPUT = (
    '{"partitions": 6, "ingest": {"dedupe_window": 5, "min_event_ts_ms": 315532800000, '
    '"max_event_ts_ms": 4102444800000, "max_future_ms": 86400000}, "scheduler": {"mode": "timer", '
    '"interval_ms": 5000}, "engine": {"mode": "hysteresis", "trend_threshold": 0.7, "high_vol_ratio": 1.5, '
    '"vol_lookback": 20, "vol_ceiling": 0.45, "progress_required": 2, "min_confidence": 0.0, '
    '"max_attempts": 5, "fail_symbols": []}, "enricher": {"return_horizons": [2, 20], '
    '"vol_horizons": [5, 20, 60], "vpin_buckets": 5, "vpin_buckets_per_day": 50, '
    '"vpin_bucket_volume": 0.0, "vpin_adv_days": 20, "vpin_sigma_halflife": 50, "regime_history": 32, '
    '"max_pending": 256, "signal_features": ["ma_spread"], "max_signal_features": 64, "regime_weights": '
    '{"TREND_UP": {"long": 1.0, "short": 0.3}, "TREND_DOWN": {"long": 0.3, "short": 1.0}, "RANGE": '
    '{"long": 0.6, "short": 0.4}, "HIGH_VOLATILITY": {"long": 0.5, "short": 0.5}}, '
    '"unknown_regime_weight": 0.5, "model_name": "meta"}, "labeler": {"barriers": {"profit_taking": 2.0, '
    '"stop_loss": 2.0, "max_hold": 7, "vol_horizon": 20}, "history": 64, "max_open": 1000, '
    '"window": 100, "min_samples": 50, "accuracy_drop": 0.1, "retrain_every": 0}}'
)
CHANGED_EXPLICIT = {
    "partitions",
    "ingest.dedupe_window",
    "ingest.buffer_capacity",
    "scheduler.mode",
    "scheduler.interval_ms",
    "scheduler.max_inflight_runs",
    "engine.mode",
    "engine.trend_threshold",
    "engine.progress_required",
    "engine.max_attempts",
    "engine.run_timeout_ms",
    "enricher.vpin_buckets",
    "enricher.return_horizons",
    "enricher.regime_weights",
    "labeler.window",
    "labeler.barriers",
}


def _recorded(settings: FleetSettings) -> str:
    """output_config() as text, in its own key order; engine.fail_symbols (test-only fault
    injection, leaving the settings) is compared only while it exists."""
    return _without_fault_injection(json.dumps(settings.output_config()))


def _trainer_fingerprint(settings: FleetSettings) -> str:
    """As workers/meta_model/training.py records it in a training report."""
    return hashlib.sha256(TrainerSettings.of(settings).model_dump_json().encode()).hexdigest()[:16]


def _without_fault_injection(text: str) -> str:
    config = json.loads(text)
    config["engine"].pop("fail_symbols", None)
    return json.dumps(config)


def test_default_settings_record_what_they_recorded_before() -> None:
    settings = load_settings()
    assert settings.config_fingerprint() == DEFAULT_FINGERPRINT
    assert _recorded(settings) == _without_fault_injection(DEFAULT_OUTPUT)
    assert EnricherSettings.of(settings).fingerprint() == DEFAULT_ENRICHER_FINGERPRINT
    assert _trainer_fingerprint(settings) == DEFAULT_TRAINER_FINGERPRINT
    assert settings.explicit_output_keys() == set()


def test_changed_settings_record_what_they_recorded_before() -> None:
    settings = load_settings(**CHANGED)
    assert settings.config_fingerprint() == CHANGED_FINGERPRINT
    assert _recorded(settings) == _without_fault_injection(CHANGED_OUTPUT)
    assert EnricherSettings.of(settings).fingerprint() == CHANGED_ENRICHER_FINGERPRINT
    assert _trainer_fingerprint(settings) == CHANGED_TRAINER_FINGERPRINT
    assert settings.explicit_output_keys() == CHANGED_EXPLICIT


def test_runtime_only_settings_change_neither_record_nor_run_fingerprint() -> None:
    base = load_settings()
    runtime = load_settings(
        ingest={"buffer_capacity": 7}, engine={"run_timeout_ms": 1, "max_attempts": 9}, api={"port": 9}
    )
    assert runtime.config_fingerprint() == base.config_fingerprint()
    assert runtime.output_config()["engine"]["max_attempts"] == 9
    assert {k: v for k, v in runtime.output_config().items() if k != "engine"} == {
        k: v for k, v in base.output_config().items() if k != "engine"
    }
    # Never recorded, but part of the run fingerprint since fingerprints were first recorded.
    inflight = load_settings(scheduler={"max_inflight_runs": 9})
    assert inflight.output_config() == base.output_config()
    assert inflight.config_fingerprint() != base.config_fingerprint()


def test_a_recorded_config_restores_what_was_recorded() -> None:
    recorded = load_settings(**CHANGED)
    restored = load_settings().with_output_config(recorded.output_config())
    assert restored.output_config() == recorded.output_config()
    assert EnricherSettings.of(restored).fingerprint() == CHANGED_ENRICHER_FINGERPRINT
