"""Where a run's latency goes: every hop topic of the regime pipeline is read (read_committed)
while the load runs, each record with its CreateTime (when the worker upstream produced it)
and the moment it became readable here. A regime event is then traced back through its
engine.results and engine.runs records to the buffered and the raw record that fired its run,
and its latency split into, per hop, the worker's pick-up (readable -> produced downstream)
and the transaction's visibility wait (produced -> readable)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.runtime.reader import take

TOPICS = ("market.raw", "market.buffer", "engine.runs", "engine.results", "regime.events")
# (name, start, end): each component is end - start over the traced chain's stamps.
COMPONENTS = (
    ("ingest pick-up", "raw.create", "buffer.create"),
    ("market.buffer visible", "buffer.create", "buffer.seen"),
    ("scheduler pick-up", "buffer.seen", "runs.create"),
    ("engine.runs visible", "runs.create", "runs.seen"),
    ("engine pick-up", "runs.seen", "results.create"),
    ("engine.results visible", "results.create", "results.seen"),
    ("publisher pick-up", "results.seen", "events.create"),
    ("regime.events visible", "events.create", "events.seen"),
)


class HopTracer:
    """Reads the hop topics from their ends; `breakdown()` after `stop()`."""

    def __init__(self, settings: FleetSettings, partitions: int) -> None:
        self.settings = settings
        self.partitions = partitions
        self._seen: dict[str, list[tuple[bytes, int, float]]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._chains: list[dict[str, float]] | None = None

    def start(self) -> None:
        consumer = Consumer(
            clients.consumer_config(
                self.settings, "bench-hops", **{"fetch.wait.max.ms": 5, "enable.partition.eof": False}
            )
        )
        consumer.assign(
            [
                TopicPartition(self.settings.topic(t), p, OFFSET_END)
                for t in TOPICS
                for p in range(self.partitions)
            ]
        )
        names = {self.settings.topic(t): t for t in TOPICS}

        def loop() -> None:
            while not self._stop.is_set():
                for m in take(consumer, 10000, 0.02):
                    if m.error() is None:
                        self._seen[names[m.topic()]].append((m.value(), m.timestamp()[1], time.time()))
            consumer.close()

        self._thread = threading.Thread(target=loop, name="bench-hops", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def chains(self) -> list[dict[str, float]]:
        """Per regime event (EngineRunStarted), the stamps of its chain, in seconds."""
        serde = Serde()
        stamps: dict[str, dict[Any, tuple[float, float]]] = defaultdict(dict)
        fired: dict[str, list[int]] = defaultdict(list)  # symbol -> buffered event times, sorted later
        symbol_of: dict[str, tuple[str, int]] = {}  # run_id -> (symbol, engine_timestamp_ms)
        for raw, create, seen in self._seen["market.raw"]:
            e = serde.decode("RawMarketEvent", raw)
            stamps["raw"][(e["symbol"], e["event_ts_ms"])] = (create / 1000, seen)
        for raw, create, seen in self._seen["market.buffer"]:
            e = serde.decode("RawInputBufferRecord", raw)["event"]
            stamps["buffer"][(e["symbol"], e["event_ts_ms"])] = (create / 1000, seen)
            fired[e["symbol"]].append(e["event_ts_ms"])
        for raw, create, seen in self._seen["engine.runs"]:
            r = serde.decode("EngineRunRecord", raw)
            if r["status"] == "PLANNED":
                stamps["runs"][r["run_id"]] = (create / 1000, seen)
        for topic in ("engine.results", "regime.events"):
            for raw, create, seen in self._seen[topic]:
                v = serde.decode("OrchestratorEvent", raw)
                if v["event_type"] == "EngineRunStarted":
                    stamps[topic.split(".")[1]][v["run_id"]] = (create / 1000, seen)
                    symbol_of[v["run_id"]] = (v["symbol"], v["engine_timestamp_ms"])
        for times in fired.values():
            times.sort()
        out = []
        for run_id, (symbol, engine_ts) in symbol_of.items():
            times = fired.get(symbol, [])
            i = int(np.searchsorted(times, engine_ts))
            if i >= len(times):
                continue
            key = (symbol, times[i])  # the record that fired the run
            parts = {
                "raw": stamps["raw"].get(key),
                "buffer": stamps["buffer"].get(key),
                "runs": stamps["runs"].get(run_id),
                "results": stamps["results"].get(run_id),
                "events": stamps["events"].get(run_id),
            }
            if any(v is None for v in parts.values()):
                continue  # the chain began before the tracer did
            chain: dict[str, float] = {}
            for name, stamp in parts.items():
                assert stamp is not None
                chain[f"{name}.create"], chain[f"{name}.seen"] = stamp
            out.append(chain)
        return out

    def breakdown(self, sent_from: float = 0.0, sent_to: float = float("inf")) -> dict[str, Any]:
        """p50/p99 of each component in ms, and each component's mean in the slowest 1 %, over
        the runs whose firing record was sent at or after `sent_from`."""
        if self._chains is None:
            self._chains = self.chains()  # once: decoding every record costs seconds
        chains = [c for c in self._chains if sent_from <= c["raw.create"] <= sent_to]
        if not chains:
            return {"traced": 0}
        total = np.array([c["events.seen"] - c["raw.create"] for c in chains]) * 1000
        slow = total >= np.percentile(total, 99)
        began = np.array([c["raw.create"] for c in chains])
        out: dict[str, Any] = {
            "traced": len(chains),
            # When the slowest 1 % began, in seconds from the first traced run: one moment or many.
            "slowest_at_s": sorted({round(float(t), 1) for t in began[slow] - began.min()}),
            "total": _summary(total, slow),
        }
        for name, start, end in COMPONENTS:
            ms = np.array([c[end] - c[start] for c in chains]) * 1000
            out[name] = _summary(ms, slow)
        return out


def _summary(ms: np.ndarray, slow: np.ndarray) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(ms, 50)), 1),
        "p99": round(float(np.percentile(ms, 99)), 1),
        "mean_in_slowest_1pct": round(float(ms[slow].mean()), 1),
    }


def print_breakdown(rate: int, found: dict[str, Any]) -> None:
    print(f"(c) where the time goes at {rate}/s ({found.get('traced', 0)} runs traced):")
    print(f"    the slowest 1 % began at {found.get('slowest_at_s')} s")
    for name, value in found.items():
        if isinstance(value, dict):
            print(
                f"    {name:24} p50 {value['p50']:8.1f}  p99 {value['p99']:8.1f}"
                f"  slowest 1 %: {value['mean_in_slowest_1pct']:8.1f} ms"
            )
