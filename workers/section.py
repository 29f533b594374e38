"""A worker's settings section: the base class its `<package>/settings.py` declares, typed
access (`EngineSettings.of(settings)`), and the marks that say which settings change output.

A section is recorded on fleet.config and reproduced by replays unless its class says
`recorded = False`; a field marked RUNTIME_ONLY changes how a worker runs, never what it
publishes, so it is left out. The run fingerprint (provenance of every engine run) hashes the
sections with `in_run_fingerprint = True`, except fields marked NOT_IN_RUN. Mark a field where
it is declared: `run_timeout_ms: Annotated[int, RUNTIME_ONLY, NOT_IN_RUN] = Field(30_000)`.
"""

from __future__ import annotations

from enum import Enum
from importlib import import_module
from importlib.util import find_spec
from typing import ClassVar, Self

from pydantic import BaseModel


class Mark(Enum):
    """What a setting does not change (metadata of its Annotated type)."""

    RUNTIME_ONLY = "runtime_only"  # what a worker publishes: not recorded on fleet.config
    NOT_IN_RUN = "not_in_run"  # what a run computes: not in the run fingerprint


RUNTIME_ONLY = Mark.RUNTIME_ONLY
NOT_IN_RUN = Mark.NOT_IN_RUN


class SectionError(Exception):
    """A worker's package or settings module that cannot give a section; the message names it."""


class Section(BaseModel):
    """The settings of one worker or service, under its name in FleetSettings."""

    recorded: ClassVar[bool] = True  # part of output_config (fleet.config, replays)
    in_run_fingerprint: ClassVar[bool] = False  # part of config_fingerprint

    @classmethod
    def of(cls, settings: BaseModel) -> Self:
        """This section of the fleet's settings: `EngineSettings.of(settings).mode`."""
        names: dict[type[Section], str] = getattr(type(settings), "section_names", {})
        if cls not in names:
            raise SectionError(
                f"these settings have no {cls.__name__} section: is its worker in the topology the "
                "settings were loaded with (load_settings(topology=...))?"
            )
        section = getattr(settings, names[cls])
        assert isinstance(section, cls)
        return section

    @classmethod
    def marked(cls, mark: Mark) -> set[str]:
        """The names of the fields that carry `mark`."""
        return {name for name, field in cls.model_fields.items() if mark in field.metadata}


def find_section(package: str) -> type[Section] | None:
    """The one Section subclass `<package>.settings` declares; None when the package has no
    settings module (a worker without settings)."""
    try:
        spec = find_spec(f"{package}.settings")
    except ModuleNotFoundError as exc:
        raise SectionError(f"package {package!r} cannot be imported: {exc}") from exc
    if spec is None:
        return None
    module = import_module(spec.name)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Section)
        and value is not Section
        and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = sorted(c.__name__ for c in found)
        raise SectionError(f"{module.__name__} must declare one Section subclass, not {len(found)}: {names}")
    return found[0]
