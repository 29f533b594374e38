"""The enricher worker on the real broker: exactly one enriched event per signal, equal to the
pure core's (the replay), identical after a SIGKILL, and a model swap under load."""

from __future__ import annotations

import math
import signal as signals
import subprocess
import threading
import time
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from tests.integration.fleet import Fleet, model_versions, switches, wait_consumed
from tests.samples import regime_event
from workers import clients
from workers.enricher.samples import bar_record, signal
from workers.enricher.settings import EnricherSettings
from workers.meta_model import model_record, train_booster
from workers.meta_model.calibration import Calibration
from workers.replay.enriched import replay_enriched
from workers.runtime.topic_io import produce_values
from workers.topology import load_topology
from workers.trainer.publish import enricher_features, publish_model

pytestmark = pytest.mark.integration
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
T0 = 1_700_000_000_000
HOUR = 3_600_000
# Buckets of a fixed volume, so VPIN is live from the first bars.
SETTINGS = {"enricher__vpin_bucket_volume": "2500", "enricher__vpin_buckets": "20"}
CALIBRATION = Calibration("platt", a=0.7, b=0.1).to_json()


def booster(seed: int, names: list[str]) -> bytes:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(300, len(names)))
    return train_booster(features, (features[:, 2] > 0).astype(int), names, rounds=30, max_depth=3, seed=seed)


def produce(fleet: Fleet, topic: str, records: list[tuple[str, dict[str, Any], int | None]]) -> None:
    s = fleet.settings()
    produce_values(s, load_topology(s.partitions), topic, records)


def market_inputs(fleet: Fleet, model_version: str = "v1") -> list[str]:
    """Hourly bars over five days, three regime decisions per symbol, and model v1."""
    for symbol in SYMBOLS:
        price, bars = 100.0, []
        for i in range(120):
            price *= math.exp(0.004 * math.sin(i / 3 + len(symbol)))
            bars.append((symbol, bar_record(symbol, T0 + i * HOUR, price, 1000.0 + 10 * i, seq=i), None))
        produce(fleet, "market.buffer", bars)
        events = [
            (T0 + 10 * HOUR, "RANGE", 0.4),
            (T0 + 50 * HOUR, "TREND_UP", 0.7),
            (T0 + 90 * HOUR, "TREND_DOWN", 0.9),
        ]
        produce(
            fleet, "regime.events", [(symbol, regime_event(ts, r, c, symbol), None) for ts, r, c in events]
        )
    names = enricher_features(fleet.settings())
    publish_model(
        fleet.settings(),
        model_record(
            booster(1, names),
            name="meta",
            version=model_version,
            trained_ts_ms=1,
            feature_names=names,
            calibration=CALIBRATION,  # the replay and the restore must apply it alike
        ),
    )
    return names


def signal_records(count: int) -> list[tuple[str, dict[str, Any], int | None]]:
    out = []
    for i in range(count):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        ts = T0 + (i * 7919 % 119) * HOUR + 1
        out.append(
            (symbol, signal(symbol, ts, seq=i, direction=(-1, 0, 1)[i % 3], ma_spread=0.001 * (i % 17)), None)
        )
    return out


def enriched(fleet: Fleet, expected: int) -> list[dict[str, Any]]:
    return [r["value"] for r in fleet.consume("signals.enriched", expected, timeout=120)]


def comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in e.items() if k != "enriched_at_ms"} for e in events),
        key=lambda e: e["signal"]["signal_id"],
    )


def started(fleet: Fleet) -> subprocess.Popen[bytes]:
    proc = fleet.start("enricher")
    wait_consumed(fleet, ("market.buffer", "regime.events", "models"))
    return proc


def test_every_signal_is_enriched_once_in_order_as_the_core_would(fleet_factory: Any) -> None:
    fleet: Fleet = fleet_factory(**SETTINGS)
    market_inputs(fleet)
    started(fleet)
    records = signal_records(200)
    produce(fleet, "signals.raw", records[:100])
    # Bad input on the way: bytes that do not decode and an impossible direction.
    s = fleet.settings()
    raw = Producer(clients.producer_config(s, None))
    raw.produce(s.topic("signals.raw"), b"\x00not avro", b"AAA")
    raw.flush(10)
    produce(fleet, "signals.raw", [("BBB", {**signal("BBB", T0, seq=999), "direction": 5}, None)])
    produce(fleet, "signals.raw", records[100:])
    out = enriched(fleet, 200)
    assert len(out) == 200 and len({e["signal"]["signal_id"] for e in out}) == 200
    for symbol in SYMBOLS:  # per symbol, in the order the strategy sent them
        sent = [r[1]["signal_id"] for r in records if r[0] == symbol]
        assert [e["signal"]["signal_id"] for e in out if e["signal"]["symbol"] == symbol] == sent
    assert {e["model_version"] for e in out} == {"v1"} and any(e["toxicity_buckets"] for e in out)
    assert {e["regime"] for e in out} >= {"UNKNOWN", "RANGE", "TREND_UP", "TREND_DOWN"}
    dlq = fleet.consume("fleet.dlq", 2, timeout=30)
    assert len(dlq) == 2
    codes = sorted(r["headers"]["error_code"] for r in dlq)
    assert codes == ["INVALID_DIRECTION", "UNDECODABLE"]
    # The pure core over the same recorded inputs gives the same events, field by field.
    report = replay_enriched(fleet.settings())
    assert report.ok and report.matched == 200, report.as_dict()
    # A changed feature parameter makes the replay diverge, and says where.
    changed = fleet.settings().model_copy(
        update={"enricher": EnricherSettings.of(fleet.settings()).model_copy(update={"vpin_buckets": 5})}
    )
    diverged = replay_enriched(changed)
    assert diverged.mismatched == 200 and diverged.first_divergence is not None
    assert "provenance.config_fingerprint" in diverged.first_divergence["fields"]
    assert diverged.diverging_fields.get("toxicity", 0) > 0, diverged.as_dict()


def test_sigkill_mid_stream_gives_the_uninterrupted_output(fleet_factory: Any) -> None:
    records = signal_records(1200)
    calm: Fleet = fleet_factory(**SETTINGS)
    market_inputs(calm)
    started(calm)
    produce(calm, "signals.raw", records)
    expected = comparable(enriched(calm, len(records)))
    assert len(expected) == len(records)

    killed: Fleet = fleet_factory(**SETTINGS)
    market_inputs(killed)
    proc = started(killed)
    produce(killed, "signals.raw", records)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(killed.consume("signals.enriched", 1, timeout=1)) < 200:
        time.sleep(0.2)
    proc.send_signal(signals.SIGKILL)
    proc.wait(10)
    killed.procs.pop("enricher")
    killed.start("enricher", name="enricher-again")
    assert comparable(enriched(killed, len(records))) == expected


def test_a_model_swap_under_load_switches_once_and_a_corrupt_one_is_rejected(fleet_factory: Any) -> None:
    fleet: Fleet = fleet_factory(**SETTINGS)
    names = market_inputs(fleet)
    started(fleet)
    records = signal_records(3000)
    sender = threading.Thread(
        target=lambda: [produce(fleet, "signals.raw", records[i : i + 300]) for i in range(0, 3000, 300)]
    )
    sender.start()
    time.sleep(1.0)
    corrupt = model_record(booster(2, names), name="meta", version="v3", trained_ts_ms=3, feature_names=names)
    corrupt["booster"] = corrupt["booster"][:-10] + b"0123456789"  # the sha256 no longer matches
    publish_model(
        fleet.settings(),
        model_record(booster(2, names), name="meta", version="v2", trained_ts_ms=2, feature_names=names),
    )
    publish_model(fleet.settings(), corrupt)
    sender.join(120)
    out = enriched(fleet, len(records))
    assert len(out) == len(records) and len({e["signal"]["signal_id"] for e in out}) == len(records)
    by_partition = model_versions(out)
    assert len(by_partition) == fleet.settings().partitions
    for versions in by_partition.values():
        assert set(versions) <= {"v1", "v2"} and switches(versions) <= 1, versions
        assert versions[-1] == "v2"  # v2 reached every partition; it never went back
    rejected = [
        r for r in fleet.consume("fleet.dlq", 2, timeout=30) if r["headers"]["error_code"] == "MODEL_CHECKSUM"
    ]
    assert len(rejected) == fleet.settings().partitions  # one copy per partition, each rejected
