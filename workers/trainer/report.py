"""The training report a person reads: a PNG (ROC, calibration, feature importance, per-fold
scores) and the same numbers as JSON, next to the booster, under trainer.report_dir/<version>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from workers.meta_model.training import TrainingResult


def write_report(result: TrainingResult, directory: Path) -> Path:
    """model.ubj, report.json and report.png in `directory`; the PNG's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.ubj").write_bytes(result.record["booster"])
    (directory / "report.json").write_text(json.dumps(result.report, indent=2, sort_keys=True, default=str))
    png = directory / "report.png"
    _figure(result, png)
    return png


def _figure(result: TrainingResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = (
        np.concatenate([y for y, _ in result.fold_predictions]) if result.fold_predictions else np.array([])
    )
    scores = (
        np.concatenate([p for _, p in result.fold_predictions]) if result.fold_predictions else np.array([])
    )
    fig, ((roc, calibration), (importance, folds)) = plt.subplots(2, 2, figsize=(12, 9))
    report: dict[str, Any] = result.report
    fig.suptitle(
        f"{report['model_version']}: {report['status']}  validation AUC {report['validation']['auc']:.3f}, "
        f"accuracy {report['validation']['accuracy']:.3f}, {report['samples']} samples"
    )
    if labels.size and len(set(labels.tolist())) == 2:
        order = np.argsort(-scores)
        tpr = np.cumsum(labels[order] == 1) / max(int(np.sum(labels == 1)), 1)
        fpr = np.cumsum(labels[order] == 0) / max(int(np.sum(labels == 0)), 1)
        roc.plot(np.r_[0, fpr], np.r_[0, tpr], label="out-of-fold")
    roc.plot([0, 1], [0, 1], "--", color="grey")
    roc.set(title="ROC (out-of-fold)", xlabel="false positive rate", ylabel="true positive rate")
    if labels.size:
        bins = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(scores, bins) - 1, 0, 9)
        mids = [(bins[i] + bins[i + 1]) / 2 for i in range(10) if np.any(which == i)]
        rates = [float(np.mean(labels[which == i])) for i in range(10) if np.any(which == i)]
        calibration.plot(mids, rates, "o-")
    calibration.plot([0, 1], [0, 1], "--", color="grey")
    calibration.set(title="calibration", xlabel="predicted P(right)", ylabel="observed rate")
    gains = sorted(report["feature_importance_gain"].items(), key=lambda kv: kv[1])[-15:]
    importance.barh([k for k, _ in gains], [v for _, v in gains])
    importance.set(title="feature importance (gain)")
    aucs = [f["auc"] for f in report["folds"]]
    folds.bar(range(1, len(aucs) + 1), aucs)
    folds.axhline(0.5, color="grey", linestyle="--")
    folds.set(title="AUC per walk-forward fold", xlabel="fold", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
