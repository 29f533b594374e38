"""scheduler: market.buffer -> engine.runs (PLANNED EngineRunRecords), one cut per run."""
