"""regime-fleet: a Kafka worker fleet for deterministic market-regime decisions."""
