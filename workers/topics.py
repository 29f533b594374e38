"""Topic names a core or a service uses in code, one constant each; all else about a topic
(partitions, cleanup, contract, readers and writers) is in topology/fleet.yaml, which must
declare each name (a unit test checks). A new worker's own topics need no constant here."""

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
OUTCOMES = "signals.outcomes"
RETRAIN = "models.retrain"
SHADOW = "signals.shadow"
METRICS = "models.metrics"
