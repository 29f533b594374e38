"""Local state: one RocksDB per store per assigned partition, backed by a compacted changelog."""
