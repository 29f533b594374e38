"""The partition's models: the champion (it scores the published meta_confidence) and at most one
challenger (scored in shadow on signals.shadow, never sized). Both are verified the same way,
kept in the `partition` store (fields and UBJSON booster) so a restart scores with the same
models without re-reading `models`, and loaded once per booster and calibration map.

A ModelRecord with `status: challenger` (key `<model_name>:challenger`) fills the challenger
slot; a live record of the challenger's version (a promotion) empties it, so from the next
signal on that version is the champion and nothing is scored twice.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from workers.meta_model import LoadedModel, ModelRejected, load, verify
from workers.meta_model.scoring import model_key
from workers.processing import StateStore

CHAMPION, CHALLENGER = "model", "challenger"  # partition-store keys of the two slots
BOOSTERS = {CHAMPION: "booster", CHALLENGER: "challenger_booster"}
CACHED_MODELS = 4


class Models:
    """Loaded models by booster sha256 and calibration map (LoadedModel.key): content-addressed,
    so never stale whatever is rewound."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()

    def verify(self, value: Mapping[str, Any], partition: StateStore, slot: str) -> LoadedModel | None:
        """The record's model once verified (ModelRejected otherwise), or None when that slot
        holds it already (a republish or a redelivery). A champion must be newer than the
        active one; a challenger only different from both."""
        held = partition.get(slot)
        if held and (held["model_version"], held["sha256"]) == (
            value["model_version"],
            value.get("booster_sha256"),
        ):
            return None
        champion = partition.get(CHAMPION)
        if slot == CHALLENGER and champion and champion["model_version"] == value["model_version"]:
            return None  # already the champion: nothing to compare it with
        model = verify(value, self.feature_names, champion if slot == CHAMPION else None)
        self._cache(model)
        return model

    def keep(
        self, partition: StateStore, slot: str, value: Mapping[str, Any], model: LoadedModel, offset: int
    ) -> None:
        """Put a verified model in its slot; a new champion of the challenger's version empties
        the challenger slot (a promotion)."""
        partition.put(
            slot,
            {
                "model_name": value["model_name"],
                "model_version": model.version,
                "sha256": model.sha256,
                "trained_ts_ms": model.trained_ts_ms,
                "feature_names": list(model.feature_names),
                "offset": offset,
                "calibration": model.calibration.to_json(),
            },
        )
        partition.put(
            BOOSTERS[slot],
            {"sha256": model.sha256, "ubj": base64.b64encode(bytes(value["booster"])).decode()},
        )
        challenger = partition.get(CHALLENGER)
        if slot == CHAMPION and challenger and challenger["model_version"] == model.version:
            partition.delete(CHALLENGER)
            partition.delete(BOOSTERS[CHALLENGER])

    def active(self, partition: StateStore, slot: str = CHAMPION) -> LoadedModel | None:
        """The model in a slot, loaded from the store when not cached (after a restore)."""
        held = partition.get(slot)
        if not held:
            return None
        calibration = held.get("calibration") or ""
        model = self._loaded.get(model_key(held["sha256"], calibration))
        if model is None:
            stored = partition.get(BOOSTERS[slot])
            model = load(
                base64.b64decode(stored["ubj"]),
                version=held["model_version"],
                feature_names=held["feature_names"],
                trained_ts_ms=held["trained_ts_ms"],
                calibration=calibration,
            )
            if model.sha256 != held["sha256"]:
                raise ModelRejected("MODEL_CHECKSUM", f"stored booster is not {held['sha256']}")
            self._cache(model)
        return model

    def _cache(self, model: LoadedModel) -> None:
        self._loaded[model.key] = model
        self._loaded.move_to_end(model.key)
        while len(self._loaded) > CACHED_MODELS:
            self._loaded.popitem(last=False)
