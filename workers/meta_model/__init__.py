"""The meta-model: an XGBoost booster that scores P(signal is right), shipped as a
ModelRecord (UBJSON booster bytes, never pickle) on the compacted `models` topic."""

from workers.meta_model.booster import model_record, train_booster
from workers.meta_model.scoring import COLD_CONFIDENCE, NO_MODEL, LoadedModel, ModelRejected, load, verify

__all__ = [
    "COLD_CONFIDENCE",
    "NO_MODEL",
    "LoadedModel",
    "ModelRejected",
    "load",
    "model_record",
    "train_booster",
    "verify",
]
