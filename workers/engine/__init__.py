"""engine: engine.runs (PLANNED) -> engine.results (Started, Completed | Failed) + run status."""
