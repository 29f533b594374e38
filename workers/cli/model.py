"""`regime-fleet model publish|features|rollback|challenge|promote|metrics`: the arguments and the
printing; publishing is workers/trainer/publish.py, calibration of a booster trained elsewhere
workers/trainer/calibrate.py, champion and challenger workers/trainer/promote.py."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from workers.config import FleetSettings, load_settings
from workers.enricher.settings import EnricherSettings

ERROR = "regime-fleet: error:"


def cmd_model(args: argparse.Namespace) -> int:
    from workers.trainer.publish import enricher_features

    settings = load_settings(args.config)
    args.version = args.version or args.target
    if args.action == "features":
        print(json.dumps(enricher_features(settings)))
        return 0
    if not args.version:
        print(f"{ERROR} model {args.action} needs a version (--version V)")
        return 2
    if args.action == "rollback":
        return _rollback(settings, args)
    if args.action == "challenge":
        return _challenge(settings, args)
    if args.action == "promote":
        return _promote(settings, args)
    if args.action == "metrics":
        return _metrics(settings, args.version)
    return _publish(settings, args)


def _publish(settings: FleetSettings, args: argparse.Namespace) -> int:
    """A booster trained elsewhere, with a calibration map: given (--calibration FILE) or fitted
    on labelled data (--calibrate-on SOURCE); without either it is refused."""
    from workers.meta_model import model_record
    from workers.meta_model.calibration import Calibration, CalibrationError
    from workers.meta_model.training import TrainingError
    from workers.runtime.reader import TopicError
    from workers.trainer.by_hand import dataset_of
    from workers.trainer.calibrate import CalibrationRefused, fitted
    from workers.trainer.promote import as_challenger, challenger_key
    from workers.trainer.publish import enricher_features, publish_model

    if not args.booster:
        print(f"{ERROR} model publish needs --booster FILE and --version V")
        return 2
    booster = Path(args.booster).read_bytes()
    features = args.features.split(",") if args.features else enricher_features(settings)
    calibration, distribution, summary = "", "", {}
    try:
        if args.calibration:
            calibration = Calibration.from_json(Path(args.calibration).read_text()).to_json()
            summary = {
                "method": json.loads(calibration or "{}").get("method", "none"),
                "from": args.calibration,
            }
        elif args.calibrate_on:
            if features != enricher_features(settings):
                raise CalibrationRefused(
                    "--calibrate-on computes the enricher's features; --features differs"
                )
            data = dataset_of(settings, args.calibrate_on, args.from_offset, args.to_offset)
            calibration, distribution, summary = fitted(settings, booster, data)
        else:
            raise CalibrationRefused(
                "no calibration map: the enricher would publish the booster's raw score as meta_confidence. "
                "Give --calibrate-on SOURCE (outcomes, market.buffer or a bars file the booster was not "
                "trained on) or --calibration FILE (a calibration.json, as the trainer writes)"
            )
    except (CalibrationRefused, CalibrationError, TrainingError, TopicError, OSError) as exc:
        print(f"{ERROR} {exc}")
        return 2
    record = model_record(
        booster,
        name=args.name or EnricherSettings.of(settings).model_name,
        version=args.version,
        trained_ts_ms=args.trained_ts_ms or int(time.time() * 1000),
        feature_names=features,
        accuracy=args.accuracy,
        auc=args.auc,
        training_samples=args.samples,
        calibration=calibration,
        feature_distribution=distribution,
        details=json.dumps({"calibration": summary}, sort_keys=True, default=str),
    )
    key = None
    if args.challenger:
        record, key = as_challenger(record), challenger_key(settings)
    placed = publish_model(settings, record, key=key)
    out = {"model_version": args.version, "status": record["status"], "sha256": record["booster_sha256"]}
    print(json.dumps({**out, "calibration": summary, "copies": placed}, default=str))
    return 0


def _rollback(settings: FleetSettings, args: argparse.Namespace) -> int:
    """Republish an earlier version's booster as the newest live model."""
    from workers.trainer.publish import NoBooster, publish_model, rollback_record

    try:
        record = rollback_record(settings, args.version)
    except NoBooster as exc:
        print(f"{ERROR} {exc}")
        return 2
    placed = publish_model(settings, record)
    print(json.dumps({"rolled_back_to": args.version, "sha256": record["booster_sha256"], "copies": placed}))
    return 0


def _challenge(settings: FleetSettings, args: argparse.Namespace) -> int:
    """A trained version (under trainer.report_dir) as the challenger, scored in shadow."""
    from workers.trainer.promote import as_challenger, challenger_key
    from workers.trainer.publish import NoBooster, publish_model, rollback_record

    try:
        record = as_challenger(rollback_record(settings, args.version))
    except NoBooster as exc:
        print(f"{ERROR} {exc}")
        return 2
    placed = publish_model(settings, record, key=challenger_key(settings))
    print(json.dumps({"challenger": args.version, "sha256": record["booster_sha256"], "copies": placed}))
    return 0


def _promote(settings: FleetSettings, args: argparse.Namespace) -> int:
    """The challenger as the live model if it passes the promotion rule (or --force)."""
    from workers.trainer.promote import NoBooster, PromotionRefused, promote

    try:
        done = promote(settings, args.version, force=args.force, by=args.by or "")
    except PromotionRefused as exc:
        print(f"{ERROR} refused: {exc} (--force promotes anyway, recording that it was forced)")
        print(json.dumps(_plain(exc.verdict.evidence), indent=2))
        return 1
    except NoBooster as exc:
        print(f"{ERROR} no challenger {args.version} on models and {exc}")
        return 2
    decision = json.loads(done.record["details"])["promotion"]
    print(json.dumps({"promoted": args.version, "copies": done.copies, "decision": decision}, indent=2))
    return 0


def _metrics(settings: FleetSettings, version: str) -> int:
    """A version's newest live scores per partition and, for a challenger, the rule's verdict."""
    from workers.meta_model.promotion import latest_per_partition
    from workers.trainer.promote import live_metrics, verdict_for

    mine = latest_per_partition(live_metrics(settings), version)
    if not mine:
        print(f"{ERROR} no live scores of {version} on models.metrics yet")
        return 1
    out: dict[str, Any] = {"model_version": version, "partitions": [_plain(dict(m)) for m in mine]}
    if any(m["role"] == "challenger" for m in mine):
        verdict = verdict_for(settings, version)
        out["promotion"] = {"passed": verdict.passed, "reasons": verdict.reasons, **_plain(verdict.evidence)}
    print(json.dumps(out, indent=2))
    return 0


def _plain(value: Any) -> Any:
    """JSON without NaN or infinities (null instead)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def add_parser(sub: Any) -> None:
    m = sub.add_parser(
        "model",
        help="publish a meta-model (UBJSON booster) to every partition of `models`, as the live model or "
        "as a challenger scored in shadow; promote a challenger by the promotion rule; roll back; show "
        "a version's live scores; list the features a model must expect",
    )
    m.add_argument("action", choices=("publish", "features", "rollback", "challenge", "promote", "metrics"))
    m.add_argument("target", nargs="?", help="the model version (same as --version)")
    m.add_argument("--booster", help="XGBoost booster saved as UBJSON (Booster.save_model('x.ubj'))")
    m.add_argument("--version", help="model_version; a live one must be trained later than the active one")
    m.add_argument("--name", help="model_name (default: enricher.model_name)")
    m.add_argument("--trained-ts-ms", type=int, help="default: now")
    m.add_argument("--features", help="comma-separated feature names (default: the enricher's own)")
    m.add_argument(
        "--calibrate-on",
        help="publish: fit the calibration map (trainer.calibration) on this labelled data: outcomes, "
        "market.buffer (with --from-offset/--to-offset) or a bars file, not the booster's training data",
    )
    m.add_argument("--calibration", help="publish: a calibration map JSON file (calibration.json)")
    m.add_argument("--from-offset", type=int)
    m.add_argument("--to-offset", type=int)
    m.add_argument("--challenger", action="store_true", help="publish: as the challenger, scored in shadow")
    m.add_argument("--force", action="store_true", help="promote: even when the rule refuses (recorded)")
    m.add_argument("--by", help="promote: who decides (default: the OS user)")
    m.add_argument("--accuracy", type=float, default=0.0)
    m.add_argument("--auc", type=float, default=0.0)
    m.add_argument("--samples", type=int, default=0)
    m.set_defaults(func=cmd_model)
