"""Training meta-models from Kafka or files, by hand (`regime-fleet train`) or on a
RetrainTrigger (`regime-fleet run trainer`); docs/training.md."""
