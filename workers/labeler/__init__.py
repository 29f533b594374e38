"""The labeler/monitor: triple-barrier outcomes of enriched signals and retrain triggers
(docs/training.md)."""
