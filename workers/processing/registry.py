"""Every worker's core by name: `create(settings, edges)` in `<package>.processor`, the
package its topology entry names (default `workers.<name>`). The runtime, the driver and the
replays find cores here, so a worker in topology/fleet.yaml needs no other wiring."""

from __future__ import annotations

from importlib import import_module

from workers.config import FleetSettings
from workers.processing.processor import Edges, Processor


def create_processor(name: str, settings: FleetSettings, edges: Edges) -> Processor:
    """The settings know each topology name's package: they were composed from the same file."""
    package = type(settings).packages.get(name, f"workers.{name}")
    try:
        module = import_module(f"{package}.processor")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"no core for worker {name!r} ({package}.processor: {exc}); are the settings loaded "
            "with the topology that declares it (load_settings(topology=...))?"
        ) from exc
    processor: Processor = module.create(settings, edges)
    return processor
