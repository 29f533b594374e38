"""`regime-fleet model publish|show`: put a meta-model on the `models` topic, see what is there.

A model goes to every partition of `models` (compacted, keyed by model name): each enricher
instance reads only its own partitions, and each swaps in the model between two records.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from workers.config import FleetSettings, load_settings
from workers.topics import MODELS
from workers.topology import load_topology


def publish_model(
    settings: FleetSettings, record: dict[str, Any], key: str | None = None
) -> list[tuple[int, int]]:
    """The ModelRecord, once per partition of `models` (keyed by its model name unless `key`
    says otherwise: rejected candidates get a key of their own, so compaction keeps the live
    model); (partition, offset) of each copy."""
    from workers.cli.jsonio import produce_values

    topology = load_topology(settings.partitions)
    partitions = range(topology.topics[MODELS].partitions)
    key = key or record["model_name"]
    return produce_values(settings, topology, MODELS, [(key, record, p) for p in partitions])


def enricher_features(settings: FleetSettings) -> list[str]:
    """The feature names the enricher computes with these settings (a model must expect them)."""
    from workers.enricher.processor import EnricherProcessor

    return EnricherProcessor(settings).feature_names


def cmd_model(args: argparse.Namespace) -> int:
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
        name=args.name or settings.enricher.model_name,
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
    """Republish an earlier version's booster (from trainer.report_dir/<version>/model.ubj) as
    the newest live model: the enricher swaps back to it like to any newer model."""
    from workers.meta_model import model_record

    if not args.version:
        print("regime-fleet: error: model rollback needs --version V (a directory under trainer.report_dir)")
        return 2
    path = Path(settings.trainer.report_dir) / args.version / "model.ubj"
    if not path.exists():
        print(f"regime-fleet: error: no booster at {path}")
        return 2
    record = model_record(
        path.read_bytes(),
        name=settings.enricher.model_name,
        version=args.version,
        trained_ts_ms=int(time.time() * 1000),
        feature_names=enricher_features(settings),
    )
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
