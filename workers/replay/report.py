"""What a replay reports: counts, the first divergence, and the configuration it ran with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ReplayReport:
    runs: int = 0
    events: int = 0
    matched: int = 0
    mismatched: int = 0
    missing: int = 0
    extra: int = 0
    seconds: float = 0.0
    first_divergence: dict[str, Any] | None = None
    diverging_fields: dict[str, int] = field(default_factory=dict)  # path -> events it differs in
    output_topic: str | None = None
    config_source: str = ""
    config_differs: dict[str, list[Any]] = field(default_factory=dict)

    def compared(self, ref: dict[str, Any], fields: dict[str, list[Any]]) -> None:
        """Count one compared event: matched, or mismatched in these fields (the first named)."""
        if not fields:
            self.matched += 1
            return
        self.mismatched += 1
        for path in fields:
            self.diverging_fields[path] = self.diverging_fields.get(path, 0) + 1
        self.first_divergence = self.first_divergence or {**ref, "fields": fields}

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.extra or self.config_differs)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, [], {}, "")}
        d["seconds"] = round(self.seconds, 2)
        d["match"] = self.ok
        d["runs_per_s"] = round(self.runs / self.seconds) if self.seconds else None
        d["events_per_s"] = round(self.events / self.seconds) if self.seconds else None
        return d
