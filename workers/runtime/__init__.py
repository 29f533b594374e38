"""The shared Kafka runtime: one implementation of consume-process-produce for every worker."""
