"""The fleet's topic names, one constant each. topology/fleet.yaml declares them (partitions,
cleanup, contracts); tests/unit/test_config_topology.py keeps the two in step."""

RAW = "market.raw"
RAW_DLQ = "market.raw.dlq"
FLEET_DLQ = "fleet.dlq"
BUFFER = "market.buffer"
RUNS = "engine.runs"
RESULTS = "engine.results"
EVENTS = "regime.events"
CONFIG = "fleet.config"
SIGNALS = "signals.raw"
ENRICHED = "signals.enriched"
MODELS = "models"
