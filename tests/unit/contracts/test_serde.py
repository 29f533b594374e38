from __future__ import annotations

import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.demo.data import index_events
from tests.samples import planned_run
from workers.contracts import DecodeError, Serde, contract
from workers.contracts.evolution import incompatibilities
from workers.contracts.schemas import SCHEMA_NAMES, load_raw, schema_dir

BAR = {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0, "interval_ms": 60000}
EVENT = next(e for e in index_events("SPX", days=1, window=5) if e["kind"] == "SNAPSHOT_INPUTS")
PROV = {
    "input_hash": "i",
    "config_fingerprint": "c",
    "engine_version": "v",
    "prev_event_hash": "",
    "event_hash": "h",
}
SAMPLES = {
    "RawMarketEvent": EVENT,
    "RawInputBufferRecord": {
        "event": EVENT,
        "source_topic": "market.raw",
        "source_partition": 0,
        "source_offset": 3,
        "ingest_ts_ms": 5,
        "correlation_id": "c",
    },
    "EngineRunRecord": planned_run(),
    "OrchestratorEvent": {
        "schema": "orchestrator_event",
        "schema_version": "1",
        "event_id": "e",
        "event_type": "EngineRunCompleted",
        "run_id": "r",
        "symbol": "S",
        "engine_timestamp_ms": 1,
        "cut_start_ingest_seq": 0,
        "cut_end_ingest_seq": 4,
        "cut_kind": "TIMER",
        "engine_mode": "HYSTERESIS",
        "regime_output": {
            "regime": "RANGE",
            "confidence": 0.7,
            "features": {"a": 1.5},
            "reason_codes": ["X"],
        },
        "hysteresis_decision": {
            "decision": "HOLD",
            "current_regime": "RANGE",
            "candidate_regime": None,
            "progress": 0,
            "progress_required": 3,
        },
        "error": None,
        "provenance": PROV,
        "correlation_id": "c",
        "published_at_ms": 9,
    },
    "HysteresisStoreRecord": {
        "schema": "hysteresis_store_record",
        "schema_version": "1",
        "symbol": "S",
        "engine_timestamp_ms": 1,
        "run_id": "r",
        "current_regime": "RANGE",
        "candidate_regime": "TREND_UP",
        "progress": 1,
        "progress_required": 3,
        "anchor_ts_ms": 0,
    },
    "SignalEvent": {
        "signal_id": "s",
        "strategy_id": "st",
        "symbol": "S",
        "signal_ts_ms": 1,
        "direction": 1,
        "strength": 1.0,
        "price": 10.0,
        "features": {"f": 1.0},
    },
    "SignalOutcome": {
        "signal_id": "s",
        "symbol": "S",
        "label": 1,
        "barrier": "UPPER",
        "predicted": 1,
        "meta_confidence": 0.6,
        "resolved_ts_ms": 2,
        "model_version": "m",
    },
    "RetrainTrigger": {
        "trigger_id": "t",
        "reason": "accuracy",
        "rolling_accuracy": 0.4,
        "threshold": 0.5,
        "samples": 100,
        "model_version": "m",
        "triggered_ts_ms": 3,
        "evidence": "",
    },
    "ModelRecord": {
        "model_name": "meta",
        "model_version": "1",
        "trained_ts_ms": 1,
        "feature_names": ["a"],
        "booster": b"\x00\x01",
        "accuracy": 0.6,
        "auc": 0.7,
        "training_samples": 10,
        "booster_sha256": "",
        "status": "live",
        "details": "",
        "calibration": "",
        "feature_distribution": "",
    },
}
SAMPLES["EnrichedSignalEvent"] = {
    "signal": SAMPLES["SignalEvent"],
    "meta_confidence": 0.5,
    "toxicity": 0.2,
    "regime": "RANGE",
    "regime_weight": 1.0,
    "model_version": "m",
    "enriched_at_ms": 0,
    "regime_confidence": 0.0,
    "toxicity_buckets": 0,
    "feature_values": {},
    "provenance": None,
    "halted": False,
    "regime_reason": "",
}

SAMPLES["ShadowScore"] = {
    "signal_id": "s1",
    "symbol": "SPX",
    "signal_ts_ms": 1,
    "direction": 1,
    "model_version": "m2",
    "meta_confidence": 0.6,
    "model_sha256": "ab",
    "champion_version": "m",
    "champion_confidence": 0.5,
    "feature_hash": "cd",
    "signal_partition": 0,
    "signal_offset": 7,
}
SAMPLES["ModelMetrics"] = {
    "model_version": "m2",
    "role": "challenger",
    "partition": 0,
    "outcomes": 300,
    "window": 300,
    "auc": 0.6,
    "brier": 0.23,
    "ece": 0.04,
    "accuracy": 0.58,
    "base_rate": 0.5,
    "brier_skill": 0.08,
    "resolved_ts_ms": 2,
    "champion_version": "m",
    "paired": 300,
    "champion_brier": 0.25,
    "brier_gain_sum": 6.0,
    "brier_gain_sumsq": 1.5,
}


def test_every_schema_has_a_sample():
    assert set(SAMPLES) == set(SCHEMA_NAMES)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_single_object_round_trip(name):
    serde = Serde()
    data = serde.encode(name, SAMPLES[name], check=True)
    assert data[:2] == b"\xc3\x01" and data[2:10] == contract(name).fingerprint
    assert serde.decode(name, data) == SAMPLES[name]


class _Registry(BaseHTTPRequestHandler):
    """The two Schema Registry calls the serde makes (register, fetch by id)."""

    schemas: list[str] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._json({"id": self.schemas.index(body["schema"]) + 1})

    def do_GET(self):
        schema_id = int(self.path.split("/")[3].split("?")[0])
        self._json({"schema": self.schemas[schema_id - 1], "schemaType": "AVRO"})

    def _json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("name", ["RawMarketEvent", "OrchestratorEvent", "ModelRecord"])
def test_confluent_framing_round_trip(name):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        serde = Serde(f"http://127.0.0.1:{server.server_address[1]}")
        data = serde.encode(name, SAMPLES[name], topic="t")
        assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] >= 1
        assert serde.decode(name, data) == SAMPLES[name]
    finally:
        server.shutdown()


def test_decode_errors_say_where_and_why():
    with pytest.raises(DecodeError) as exc:
        Serde().decode("RawMarketEvent", b"garbage", topic="market.raw", partition=1, offset=7)
    assert "market.raw[1]@7" in str(exc.value) and exc.value.code == "UNDECODABLE"
    unknown = b"\xc3\x01" + b"\x00" * 8 + b"\x00"
    with pytest.raises(DecodeError) as exc2:
        Serde().decode("RawMarketEvent", unknown)
    assert exc2.value.code == "UNKNOWN_SCHEMA"


def test_schema_invalid_record_is_rejected_on_encode():
    with pytest.raises(DecodeError) as exc:
        Serde().encode("RawMarketEvent", {**EVENT, "kind": "NOPE"}, check=True)
    assert exc.value.code == "SCHEMA_INVALID"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_current_schemas_are_additive_over_frozen_v1(name):
    root = schema_dir()
    assert incompatibilities(load_raw(name, root / "frozen" / "v1"), load_raw(name, root)) == []


def test_evolution_check_catches_broken_schemas():
    frozen = load_raw("EngineRunRecord", schema_dir() / "frozen" / "v1")
    removed = {**frozen, "fields": [f for f in frozen["fields"] if f["name"] != "symbol"]}
    retyped = {
        **frozen,
        "fields": [{**f, "type": "string"} if f["name"] == "attempt" else f for f in frozen["fields"]],
    }
    no_default = {**frozen, "fields": [*frozen["fields"], {"name": "extra", "type": "string"}]}
    enum_cut = json.loads(json.dumps(frozen).replace('"COMPLETED", ', ""))
    with_default = {
        **frozen,
        "fields": [*frozen["fields"], {"name": "extra", "type": "string", "default": ""}],
    }
    assert any("symbol: field removed" in p for p in incompatibilities(frozen, removed))
    assert any("attempt" in p for p in incompatibilities(frozen, retyped))
    assert any("without a default" in p for p in incompatibilities(frozen, no_default))
    assert any("enum symbols removed" in p for p in incompatibilities(frozen, enum_cut))
    assert incompatibilities(frozen, with_default) == []
