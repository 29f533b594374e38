"""`make bench`: throughput and latency against a real broker, as ratios within one run."""
