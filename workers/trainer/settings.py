"""The trainer's settings section (`trainer:`): data, purged CV, XGBoost and the gate. Not
recorded on fleet.config: a training report records these settings and their fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

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
    rounds: int = Field(200, ge=1)
    max_depth: int = Field(4, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    seed: int = 0
    nthread: int = Field(1, ge=1, description="Fixed, so the same data gives a byte-identical booster.")
    auc_floor: float = Field(
        0.5, ge=0, le=1, description="A candidate below this validation AUC is rejected."
    )
    fast: int = Field(5, ge=1, description="Primary strategy (MA crossover) for bar data: fast window.")
    slow: int = Field(20, ge=2, description="... and slow window.")
    report_dir: Path = Field(Path("state/models"), description="Boosters and training reports, by version.")
