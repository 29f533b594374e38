"""The training report states each gate criterion, its value and verdict, and the calibration
before and after; a rollback republishes a version with the calibration map it was shipped with."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.meta_model.test_gate import synthetic
from workers.config import load_settings
from workers.meta_model.training import train
from workers.trainer.publish import rollback_record
from workers.trainer.report import write_report


def test_the_report_and_a_rollback_carry_the_gate_and_the_calibration(tmp_path: Path) -> None:
    s = load_settings(partitions=1, trainer={"bootstrap_resamples": 200, "report_dir": str(tmp_path)})
    result = train(s, synthetic(1500, 6, 1.5), version="v7", trained_ts_ms=7)
    png = write_report(result, tmp_path / "v7")
    assert png.stat().st_size > 10_000
    report = json.loads((tmp_path / "v7" / "report.json").read_text())
    assert [(g["criterion"], g["verdict"]) for g in report["gate"]] == [
        ("auc_lower_bound", "pass"),
        ("brier_skill", "pass"),
        ("ece", "pass"),
    ]
    for side in ("raw", "calibrated"):
        assert {"ece", "brier", "brier_skill", "reliability"} <= set(report["calibration"][side])
    assert (
        sum(b["count"] for b in report["calibration"]["calibrated"]["reliability"])
        == report["calibration"]["samples"]
    )
    again = rollback_record(s, "v7")
    assert again["booster"] == result.record["booster"]
    assert again["calibration"] == result.record["calibration"] != ""
    assert again["feature_distribution"] == result.record["feature_distribution"] != ""
