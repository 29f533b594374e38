"""Every worker's core by name: `workers.<name>.processor.create(settings, services)`. The
driver and the replays find cores here, so a worker in topology/fleet.yaml needs no other wiring."""

from __future__ import annotations

from importlib import import_module

from workers.config import FleetSettings
from workers.processing.processor import Processor, Services


def create_processor(name: str, settings: FleetSettings, services: Services) -> Processor:
    module = import_module(f"workers.{name}.processor")
    processor: Processor = module.create(settings, services)
    return processor
