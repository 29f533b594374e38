"""ingest: market.raw -> market.buffer (valid events) or market.raw.dlq (everything else)."""
