"""The trainer's settings section (`trainer:`): data, purged CV, XGBoost, calibration and the gate. Not
recorded on fleet.config: a training report records these settings and their fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from workers.labeler.settings import BarrierSettings
from workers.section import Section


class TrainerSettings(Section):
    """Training (regime-fleet train, the trainer worker): data, purged CV, XGBoost, the gate."""

    recorded: ClassVar[bool] = False

    barriers: BarrierSettings = Field(default_factory=lambda: BarrierSettings())
    min_bars: int = Field(1000, ge=1, description="Fewer bars is an error.")
    min_samples: int = Field(100, ge=2, description="Fewer labelled signals is an error.")
    folds: int = Field(5, ge=2, le=50)
    embargo_ms: int = Field(0, ge=0, description="Gap between a fold's training labels and its test period.")
    rounds: int = Field(200, ge=1, description="Boosting rounds; the most early stopping may choose.")
    max_depth: int = Field(3, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    min_child_weight: float = Field(
        5.0,
        ge=0,
        description="Least hessian (about samples / 4) in a leaf: no leaf fits a handful of samples.",
    )
    early_stopping: bool = Field(
        True,
        description="Rounds chosen per fold on the last `holdout` of its training data (time order); "
        "the final fit uses their median. Off: always `rounds`.",
    )
    patience: int = Field(20, ge=1, description="Rounds without a better holdout log loss before stopping.")
    holdout: float = Field(
        0.2, gt=0, lt=1, description="Share of a fold's training data early stopping checks on."
    )
    seed: int = 0
    nthread: int = Field(1, ge=1, description="Fixed, so the same data gives a byte-identical booster.")
    calibration: Literal["platt", "isotonic", "none"] = Field(
        "platt", description="The map fitted on out-of-fold predictions and shipped in the ModelRecord."
    )
    auc_floor: float = Field(
        0.5, ge=0, le=1, description="The bootstrap lower bound of the out-of-fold AUC must be above this."
    )
    auc_confidence: float = Field(0.95, gt=0, lt=1, description="Two-sided level of that bootstrap interval.")
    bootstrap_resamples: int = Field(1000, ge=50, le=100_000)
    min_brier_skill: float = Field(
        0.0,
        ge=-1,
        lt=1,
        description="Held-out calibrated Brier skill against the base rate must be above this.",
    )
    max_ece: float = Field(0.05, gt=0, le=1, description="Held-out calibrated ECE must be at most this.")
    ece_bins: int = Field(
        10, ge=2, le=100, description="Equal-width bins of the ECE and the reliability diagram."
    )
    beat_active: bool = Field(
        True, description="With a model active, the candidate's held-out Brier must be below the active's."
    )
    fast: int = Field(5, ge=1, description="Primary strategy (MA crossover) for bar data: fast window.")
    slow: int = Field(20, ge=2, description="... and slow window.")
    report_dir: Path = Field(Path("state/models"), description="Boosters and training reports, by version.")
