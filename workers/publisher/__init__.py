"""publisher: engine.results -> regime.events, once per (run_id, event_type), hash-chained."""
