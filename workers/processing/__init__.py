"""The processor API: what a worker's pure core sees and returns, with no Kafka, no RocksDB and
no wall clock. The shared runtime (workers/runtime) runs cores against Kafka; the driver
(workers/processing/driver.py) runs them in memory, wired by topology/fleet.yaml."""

from workers.processing.processor import (
    NO_METRICS,
    Edges,
    Metrics,
    Processor,
    ProcessorBase,
    ReadError,
    Reads,
    Unavailable,
)
from workers.processing.records import Output, Record, dead_letter
from workers.state import Codec, JsonCodec, StateStore, StoreCorruption, StoreError, StoreView

__all__ = [
    "NO_METRICS",
    "Codec",
    "Edges",
    "JsonCodec",
    "Metrics",
    "Output",
    "Processor",
    "ProcessorBase",
    "ReadError",
    "Reads",
    "Record",
    "StateStore",
    "StoreCorruption",
    "StoreError",
    "StoreView",
    "Unavailable",
    "dead_letter",
]
