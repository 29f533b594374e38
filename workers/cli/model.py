"""`regime-fleet model publish|features|rollback`: the arguments and the printing; publishing
itself is workers/trainer/publish.py."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from workers.config import FleetSettings, load_settings
from workers.enricher.settings import EnricherSettings


def cmd_model(args: argparse.Namespace) -> int:
    from workers.trainer.publish import enricher_features, publish_model

    settings = load_settings(args.config)
    if args.action == "features":
        print(json.dumps(enricher_features(settings)))
        return 0
    if args.action == "rollback":
        return _rollback(settings, args)
    from workers.meta_model import model_record

    if not args.booster or not args.version:
        print("regime-fleet: error: model publish needs --booster FILE and --version V")
        return 2
    booster = Path(args.booster).read_bytes()
    record = model_record(
        booster,
        name=args.name or EnricherSettings.of(settings).model_name,
        version=args.version,
        trained_ts_ms=args.trained_ts_ms or int(time.time() * 1000),
        feature_names=args.features.split(",") if args.features else enricher_features(settings),
        accuracy=args.accuracy,
        auc=args.auc,
        training_samples=args.samples,
    )
    placed = publish_model(settings, record)
    print(json.dumps({"model_version": args.version, "sha256": record["booster_sha256"], "copies": placed}))
    return 0


def _rollback(settings: FleetSettings, args: argparse.Namespace) -> int:
    """Republish an earlier version's booster as the newest live model."""
    from workers.trainer.publish import NoBooster, publish_model, rollback_record

    if not args.version:
        print("regime-fleet: error: model rollback needs --version V (a directory under trainer.report_dir)")
        return 2
    try:
        record = rollback_record(settings, args.version)
    except NoBooster as exc:
        print(f"regime-fleet: error: {exc}")
        return 2
    placed = publish_model(settings, record)
    print(json.dumps({"rolled_back_to": args.version, "sha256": record["booster_sha256"], "copies": placed}))
    return 0


def add_parser(sub: Any) -> None:
    m = sub.add_parser(
        "model",
        help="publish a meta-model (UBJSON booster) to every partition of `models`, roll back to an "
        "earlier trained version, or list the features a model must expect",
    )
    m.add_argument("action", choices=("publish", "features", "rollback"))
    m.add_argument("--booster", help="XGBoost booster saved as UBJSON (Booster.save_model('x.ubj'))")
    m.add_argument("--version", help="model_version; must be trained later than the active one")
    m.add_argument("--name", help="model_name (default: enricher.model_name)")
    m.add_argument("--trained-ts-ms", type=int, help="default: now")
    m.add_argument("--features", help="comma-separated feature names (default: the enricher's own)")
    m.add_argument("--accuracy", type=float, default=0.0)
    m.add_argument("--auc", type=float, default=0.0)
    m.add_argument("--samples", type=int, default=0)
    m.set_defaults(func=cmd_model)
