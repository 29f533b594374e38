"""The training report a person reads: a PNG (ROC, reliability diagrams before and after
calibration with ECE, Brier and Brier skill, feature importance, per-fold AUC, the gate's
criteria and verdict) and the same numbers as JSON, next to the booster, under
trainer.report_dir/<version>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from workers.meta_model.training import TrainingResult


def write_report(result: TrainingResult, directory: Path) -> Path:
    """model.ubj, calibration.json, feature_distribution.json, report.json and report.png in
    `directory`; the PNG's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.ubj").write_bytes(result.record["booster"])
    (directory / "calibration.json").write_text(result.record["calibration"])  # a rollback ships it again
    (directory / "feature_distribution.json").write_text(result.record["feature_distribution"])
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
    fig, ((roc, calibration, histogram), (importance, folds, gate)) = plt.subplots(2, 3, figsize=(18, 9))
    report: dict[str, Any] = result.report
    fig.suptitle(
        f"{report['model_version']}: {report['status']}  validation AUC {report['validation']['auc']:.3f}, "
        f"{report['samples']} samples, {report['rounds']} rounds"
    )
    if labels.size and len(set(labels.tolist())) == 2:
        order = np.argsort(-scores)
        tpr = np.cumsum(labels[order] == 1) / max(int(np.sum(labels == 1)), 1)
        fpr = np.cumsum(labels[order] == 0) / max(int(np.sum(labels == 0)), 1)
        roc.plot(np.r_[0, fpr], np.r_[0, tpr], label="out-of-fold")
    roc.plot([0, 1], [0, 1], "--", color="grey")
    roc.set(title="ROC (out-of-fold)", xlabel="false positive rate", ylabel="true positive rate")
    c = report["calibration"]
    for side, style in (("raw", "o-"), ("calibrated", "s-")):
        bins = c[side]["reliability"]
        calibration.plot(
            [b["predicted"] for b in bins],
            [b["observed"] for b in bins],
            style,
            label=f"{side}: ECE {c[side]['ece']:.3f}, Brier {c[side]['brier']:.4f}, skill {c[side]['brier_skill']:+.3f}",
        )
    calibration.plot([0, 1], [0, 1], "--", color="grey")
    calibration.set(
        title=f"reliability, held-out folds ({c['samples']} samples, base rate {c['base_rate']:.3f})",
        xlabel="predicted P(right)",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    calibration.legend(loc="upper left", fontsize=8)
    held = result.held_out
    if held is not None and held.labels.size:
        histogram.hist([held.raw, held.calibrated], bins=20, range=(0, 1), label=["raw", "calibrated"])
        histogram.legend()
    histogram.set(title="predicted P(right), held-out folds", xlabel="probability", ylabel="signals")
    gains = sorted(report["feature_importance_gain"].items(), key=lambda kv: kv[1])[-15:]
    importance.barh([k for k, _ in gains], [v for _, v in gains])
    importance.set(title="feature importance (gain)")
    aucs = [f["auc"] for f in report["folds"]]
    folds.bar(range(1, len(aucs) + 1), aucs)
    folds.axhline(0.5, color="grey", linestyle="--")
    folds.set(title="AUC per walk-forward fold", xlabel="fold", ylim=(0, 1))
    gate.axis("off")
    lines = [f"verdict: {report['status'].upper()}", ""]
    for g in report["gate"]:
        lines.append(
            f"{g['verdict'].upper():4}  {g['criterion']}: {g['value']:.4f} {g['rule']} {g['threshold']:.4f}"
        )
    gate.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=10)
    gate.set(title="the gate")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
