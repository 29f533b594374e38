"""Champion/challenger on the real broker: a challenger published with `regime-fleet model publish
--challenger` is scored beside the champion for every signal on signals.shadow while the sized
output keeps the champion's scores; the labeler publishes both versions' live scores on
models.metrics; `regime-fleet model promote` refuses without the evidence the rule asks for,
then promotes with it, recording the decision on `models`; each partition switches once and
the shadow ends."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.fleet import Fleet, model_versions, switches, wait_consumed
from tests.integration.test_enricher import produce
from tests.integration.test_retrain_loop import SYMBOLS, market
from workers.cli.main import main
from workers.meta_model import model_record, train_booster
from workers.meta_model.promotion import latest_per_partition
from workers.replay.enriched import replay_enriched, replay_shadow
from workers.replay.metrics import replay_metrics
from workers.trainer.publish import enricher_features, publish_model

pytestmark = pytest.mark.integration
SETTINGS = {
    "labeler__min_samples": "20",
    "labeler__history": "1000",
    "labeler__barriers__max_hold": "1",  # the next bar decides
    "labeler__promote_min_outcomes": "60",
}


def cli(fleet: Fleet, *args: str, **env: str) -> tuple[int, str]:
    """`regime-fleet model ...` in this process (no interpreter start-up), in the fleet's
    environment; (exit code, what it printed)."""
    saved = dict(os.environ)
    os.environ.update({**fleet.env, **{f"REGIME_FLEET_{k.upper()}": v for k, v in env.items()}})
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(["model", *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue()


def test_a_challenger_is_scored_in_shadow_and_promoted_by_the_rule(
    fleet_factory: Any, tmp_path: Path
) -> None:
    fleet: Fleet = fleet_factory(**SETTINGS)
    names = enricher_features(fleet.settings())
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(400, len(names)))
    rows[:, names.index("sig_ma_spread")] = rng.choice([-0.05, 0.05], size=400)  # as the signals have it
    confident = train_booster(rows, (rng.random(400) < 0.9).astype(int), names, rounds=10, max_depth=2)
    publish_model(
        fleet.settings(),
        model_record(confident, name="meta", version="c1", trained_ts_ms=1, feature_names=names),
    )
    spread = rows[:, names.index("sig_ma_spread")]
    (tmp_path / "x1.ubj").write_bytes(
        train_booster(rows, (spread > 0).astype(int), names, rounds=20, max_depth=2)
    )
    (tmp_path / "cal.json").write_text(json.dumps({"method": "platt", "a": 0.8, "b": 0.0}))
    ups = rng.random(100) < 0.3  # c1 says "right" to every signal, 70 % are wrong; x1 reads ma_spread
    first, second = market(0, 70, ups), market(70, 100, ups)

    refused = cli(fleet, "publish", "--booster", str(tmp_path / "x1.ubj"), "--version", "x1", "--challenger")
    assert refused[0] == 2 and "no calibration map" in refused[1]
    published = cli(
        fleet, "publish", "--booster", str(tmp_path / "x1.ubj"), "--version", "x1", "--challenger",
        "--calibration", str(tmp_path / "cal.json"),
    )  # fmt: skip
    assert published[0] == 0, published[1]
    assert json.loads(published[1])["status"] == "challenger"

    produce(fleet, "market.buffer", first["bars"])
    for worker in ("enricher", "labeler"):
        fleet.start(worker)
    wait_consumed(fleet, ("market.buffer", "models"))
    wait_consumed(fleet, ("models",), group="labeler")  # it knows of the challenger before its scores
    produce(fleet, "signals.raw", first["signals"])
    n = len(first["signals"])
    enriched = [r["value"] for r in fleet.consume("signals.enriched", n, timeout=60)]
    shadows = [r["value"] for r in fleet.consume("signals.shadow", n, timeout=30)]
    assert len(enriched) == n and {e["model_version"] for e in enriched} == {"c1"}
    assert sorted(s["signal_id"] for s in shadows) == sorted(e["signal"]["signal_id"] for e in enriched)
    published_confidence = {e["signal"]["signal_id"]: e["meta_confidence"] for e in enriched}
    assert all(s["champion_confidence"] == published_confidence[s["signal_id"]] for s in shadows)
    assert all((s["meta_confidence"] > 0.5) == (s["signal_id"] in right(first)) for s in shadows)

    outcomes = n - len(SYMBOLS)  # every signal but each symbol's last is resolved
    deadline, paired = time.monotonic() + 40, 0
    while time.monotonic() < deadline and paired < outcomes:
        metrics = [r["value"] for r in fleet.consume("models.metrics", 1, timeout=2)]
        paired = sum(m["paired"] for m in latest_per_partition(metrics, "x1"))
        time.sleep(0.5)
    assert paired == outcomes, fleet.log("labeler")[-2000:]
    champion = latest_per_partition(metrics, "c1")
    assert champion and all(m["role"] == "champion" and m["accuracy"] < 0.5 for m in champion)
    assert all(
        m["brier"] < c["brier"] for m, c in zip(latest_per_partition(metrics, "x1"), champion, strict=True)
    )
    replayed(fleet, enriched=n, shadows=n)

    strict = cli(fleet, "promote", "x1", labeler__promote_min_outcomes="100000")
    assert strict[0] == 1 and f"{outcomes} paired live outcomes, the rule needs 100000" in strict[1]
    done = cli(fleet, "promote", "x1", "--by", "test")
    assert done[0] == 0, done[1]
    decision = json.loads(done[1])["decision"]
    assert decision["passed"] and decision["by"] == "test" and decision["replaced"] == "c1"
    assert decision["evidence"]["paired_outcomes"] == outcomes and decision["evidence"]["lower_bound"] > 0
    live = [r["value"] for r in fleet.consume("models", 1, timeout=5) if r["value"]["status"] == "live"]
    assert json.loads(live[-1]["details"])["promotion"]["evidence"]["champion"] == "c1"

    produce(fleet, "market.buffer", second["bars"])
    produce(fleet, "signals.raw", second["signals"])
    total = n + len(second["signals"])
    enriched = [r["value"] for r in fleet.consume("signals.enriched", total, timeout=60)]
    assert len(enriched) == total
    for versions in model_versions(enriched).values():
        assert switches(versions) == 1 and (versions[0], versions[-1]) == ("c1", "x1")
    shadowed = {s["value"]["signal_id"] for s in fleet.consume("signals.shadow", n, timeout=5)}
    assert shadowed == {e["signal"]["signal_id"] for e in enriched if e["model_version"] == "c1"}
    wait_consumed(fleet, ("signals.enriched", "signals.shadow", "market.buffer"), group="labeler")
    replayed(fleet, enriched=total, shadows=n)  # the promotion reproduced, at the same signal


def test_sigkills_of_the_enricher_and_labeler_leave_the_uninterrupted_scores(
    fleet_factory: Any, tmp_path: Path
) -> None:
    """With a challenger in shadow and a promotion mid-stream, the enricher and the labeler are
    each SIGKILLed once: signals.shadow, the sized output and each version's last live scores
    equal, byte for byte, what the cores give run once over the same inputs without a fault."""
    fleet: Fleet = fleet_factory(**SETTINGS)
    names = enricher_features(fleet.settings())
    rng = np.random.default_rng(8)
    rows = rng.normal(size=(400, len(names)))
    rows[:, names.index("sig_ma_spread")] = rng.choice([-0.05, 0.05], size=400)
    labels = (rows[:, names.index("sig_ma_spread")] > 0).astype(int)
    champion = train_booster(rows, (rng.random(400) < 0.9).astype(int), names, rounds=10, max_depth=2)
    publish_model(
        fleet.settings(),
        model_record(champion, name="meta", version="c1", trained_ts_ms=1, feature_names=names),
    )
    (tmp_path / "x1.ubj").write_bytes(train_booster(rows, labels, names, rounds=20, max_depth=2))
    (tmp_path / "cal.json").write_text(json.dumps({"method": "platt", "a": 0.8, "b": 0.0}))
    published = cli(
        fleet, "publish", "--booster", str(tmp_path / "x1.ubj"), "--version", "x1", "--challenger",
        "--calibration", str(tmp_path / "cal.json"),
    )  # fmt: skip
    assert published[0] == 0, published[1]
    ups = rng.random(200) < 0.4
    first, second = market(0, 130, ups), market(130, 200, ups)
    produce(fleet, "market.buffer", first["bars"])
    procs = {worker: fleet.start(worker) for worker in ("enricher", "labeler")}
    wait_consumed(fleet, ("market.buffer", "models"))
    wait_consumed(fleet, ("models",), group="labeler")
    produce(fleet, "signals.raw", first["signals"])
    n = len(first["signals"])

    for worker, topic in (("enricher", "signals.shadow"), ("labeler", "models.metrics")):
        deadline = time.monotonic() + 60  # killed with part of the stream done
        while time.monotonic() < deadline and len(fleet.consume(topic, 40, timeout=1)) < 40:
            time.sleep(0.1)
        procs[worker].send_signal(signal.SIGKILL)
        procs[worker].wait(10)
        fleet.procs.pop(worker)
        procs[worker] = fleet.start(worker, name=f"{worker}-again")
    assert len(fleet.consume("signals.shadow", n, timeout=60)) == n
    done = cli(fleet, "promote", "x1", "--by", "test", "--force")
    assert done[0] == 0, done[1]
    produce(fleet, "market.buffer", second["bars"])
    produce(fleet, "signals.raw", second["signals"])
    total = n + len(second["signals"])
    assert len(fleet.consume("signals.enriched", total, timeout=90)) == total
    wait_consumed(fleet, ("signals.enriched", "signals.shadow", "market.buffer"), group="labeler")
    replayed(fleet, enriched=total, shadows=n)


def replayed(fleet: Fleet, *, enriched: int, shadows: int) -> None:
    """The published sized output, shadow scores and last live scores equal, byte for byte, what
    the enricher and labeler cores give over the same inputs in memory (an uninterrupted run)."""
    s = fleet.settings()
    for report, events in ((replay_enriched(s), enriched), (replay_shadow(s), shadows)):
        assert report.ok and report.matched == events, report.as_dict()
    metrics = replay_metrics(s)
    assert metrics.ok and metrics.matched >= 2, metrics.as_dict()  # c1 and x1 at least


def right(data: dict[str, list[tuple[str, dict[str, Any], int | None]]]) -> set[str]:
    """The signals whose ma_spread says the price goes up next (what x1 learned)."""
    return {value["signal_id"] for _, value, _ in data["signals"] if value["features"]["ma_spread"] > 0}
