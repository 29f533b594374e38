"""What the chaos suite watches: the paced input feed, the published output, and the
comparison with the reference (the fleet's cores on the in-memory driver over the same input)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from harness.chaos.fleet import Key
from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.contracts.json_form import dumps
from workers.publisher.processor import RANK
from workers.runtime.topic_io import produce_lines
from workers.topology import load_topology


class Feed(threading.Thread):
    """Produces events to market.raw at a steady rate, so faults land mid-stream."""

    def __init__(self, settings: FleetSettings, events: list[dict[str, Any]], rate: float) -> None:
        super().__init__(name="chaos-feed", daemon=True)
        self.settings = settings
        self.events = events
        self.rate = rate
        self.sent = 0
        self.high: dict[str, int] = {}  # per symbol, the latest event time handed to the producer
        self.error = ""
        self.started_at = 0.0
        self.done_at: float | None = None
        self.hold_at: int | None = None  # the feed waits before this event until released
        self.held = threading.Event()
        self._release = threading.Event()
        self._halt = threading.Event()

    @property
    def nominal_s(self) -> float:
        return len(self.events) / self.rate

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            topology = load_topology(self.settings.partitions)
            report = produce_lines(self.settings, topology, "market.raw", self._lines())
            if report.rejected:
                self.error = f"{len(report.rejected)} events rejected: {report.rejected[0]}"
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done_at = time.monotonic()

    def _lines(self) -> Iterator[str]:
        shift = 0.0
        for i, event in enumerate(self.events):
            if i == self.hold_at:
                held = time.monotonic()
                self.held.set()
                self._release.wait(120)
                shift += time.monotonic() - held
            if self._halt.is_set():
                return
            ahead = self.started_at + shift + i / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            sym = event["symbol"]
            self.high[sym] = max(self.high.get(sym, event["event_ts_ms"]), event["event_ts_ms"])
            self.sent = i + 1
            yield dumps(event)

    def wait_fraction(self, fraction: float) -> None:
        """Block until that share of the events went out (or the feed ended)."""
        target = int(len(self.events) * fraction)
        while self.sent < target and self.done_at is None:
            time.sleep(0.05)

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self._halt.set()
        self._release.set()


@dataclass(frozen=True)
class Published:
    arrival: float
    partition: int
    offset: int
    value: dict[str, Any]


class OutputMonitor(threading.Thread):
    """Reads regime.events (read_committed) from the beginning as the fleet publishes it."""

    def __init__(self, settings: FleetSettings) -> None:
        super().__init__(name="chaos-monitor", daemon=True)
        self.serde = Serde.of(settings)
        topic = settings.topic("regime.events")
        self.consumer = Consumer(clients.reader_config(settings))
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)])
        self.records: list[Published] = []
        self.undecodable = 0
        self.last_arrival = 0.0
        self._keys: set[Key] = set()
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                for msg in self.consumer.consume(500, 0.2):
                    if msg.error() is not None:
                        continue
                    try:
                        value = self.serde.decode("OrchestratorEvent", msg.value())
                    except Exception:
                        self.undecodable += 1
                        continue
                    now = time.monotonic()
                    with self._lock:
                        self.records.append(Published(now, msg.partition(), msg.offset(), value))
                        self._keys.add(key(value))
                    self.last_arrival = now
        finally:
            self.consumer.close()

    def keys(self) -> set[Key]:
        with self._lock:
            return set(self._keys)

    def snapshot(self) -> list[Published]:
        with self._lock:
            return list(self.records)

    def drain(self, quiet_s: float = 3.0, timeout_s: float = 15.0) -> None:
        """Let the last committed records arrive, then stop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and time.monotonic() - max(self.last_arrival, 0) < quiet_s:
            time.sleep(0.2)
        self._halt.set()
        self.join(10)


def raw_records(settings: FleetSettings, topic: str, timeout_s: float = 20.0) -> list[tuple[Any, ...]]:
    """(partition, offset, key, value, headers) of every committed record, undecoded."""
    name = settings.topic(topic)
    consumer = Consumer(clients.reader_config(settings))
    out: list[tuple[Any, ...]] = []
    try:
        parts = [TopicPartition(name, p) for p in range(settings.partitions)]
        highs = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in highs])
        deadline, last = time.monotonic() + timeout_s, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < 3:
            for m in consumer.consume(500, 0.2):
                if m.error() is None:
                    out.append((m.partition(), m.offset(), m.key(), m.value(), m.headers() or []))
                    last = time.monotonic()
            if all(tp.offset >= highs[tp.partition] for tp in consumer.position(parts)):
                break
    finally:
        consumer.close()
    return out


def provenance_verify(env: dict[str, str], timeout_s: float = 30.0) -> tuple[bool, str]:
    """`regime-fleet provenance verify`, bounded: (ok, one line)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "workers.cli.main", "provenance", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, f"timeout after {timeout_s:.0f}s (regime.events unreadable to its end)"
    try:
        result = json.loads(done.stdout)
    except ValueError:
        return False, f"exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1][:200]}"
    if result.get("ok"):
        return True, f"ok ({result['events']} events)"
    b = result["first_break"]
    return (
        False,
        f"broken at {b['symbol']} {b['event_type']} [{b['partition']}]@{b['offset']}: {b['reason'][:80]}",
    )


# -- the reference and the comparison --------------------------------------------------


def reference_events(settings: FleetSettings, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an uninterrupted fleet publishes for `events`: the one call into the replay runner."""
    from workers.replay.pipeline import run_in_memory
    from workers.runtime.reader import Stored

    stored = [Stored(0, i, e["symbol"], e, {}) for i, e in enumerate(events)]
    return run_in_memory(settings, "market.raw", stored)


def key(v: dict[str, Any]) -> Key:
    return (v["symbol"], v["engine_timestamp_ms"], v["event_type"])


def project(v: dict[str, Any]) -> str:
    """The authoritative projection two independent fleets agree on."""
    error = v.get("error")
    return dumps(
        {
            "symbol": v["symbol"],
            "engine_timestamp_ms": v["engine_timestamp_ms"],
            "event_type": v["event_type"],
            "regime_output": v.get("regime_output"),
            "hysteresis_decision": v.get("hysteresis_decision"),
            "error_code": f"{error['domain']}/{error['code']}" if error else None,
            "input_hash": v["provenance"]["input_hash"],
        }
    )


@dataclass
class Comparison:
    expected: int = 0
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    mismatched: int = 0
    extra: int = 0
    split: list[str] = field(default_factory=list)
    lost_by_symbol: dict[str, int] = field(default_factory=dict)

    @property
    def badness(self) -> int:
        return self.lost + self.mismatched + self.extra


def compare(expected: list[dict[str, Any]], published: list[Published]) -> Comparison:
    want = {key(v): project(v) for v in expected}
    c = Comparison(expected=len(want), published=len(published))
    first: dict[Key, str] = {}
    counts: Counter[Key] = Counter()
    for p in published:
        k = key(p.value)
        counts[k] += 1
        first.setdefault(k, project(p.value))
    lost = [k for k in want if k not in counts]
    c.lost = len(lost)
    c.lost_by_symbol = dict(Counter(k[0] for k in lost))
    c.duplicated = sum(n - 1 for n in counts.values())
    c.extra = sum(1 for k in counts if k not in want)
    c.mismatched = sum(1 for k, proj in first.items() if k in want and want[k] != proj)
    by_symbol: dict[str, dict[int, list[Published]]] = defaultdict(lambda: defaultdict(list))
    for p in published:
        by_symbol[p.value["symbol"]][p.partition].append(p)
    for symbol, parts in by_symbol.items():
        if len(parts) > 1:
            c.split.append(symbol)
        for records in parts.values():
            records.sort(key=lambda p: p.offset)
            positions = [(p.value["engine_timestamp_ms"], RANK[p.value["event_type"]]) for p in records]
            c.out_of_order += sum(1 for a, b in pairwise(positions) if b < a)
    return c


@dataclass
class Fault:
    kind: str
    target: str
    started: float
    ended: float = 0.0
    watermark: dict[str, int] = field(default_factory=dict)  # input already sent when it began
    pending: set[str] = field(default_factory=set)  # symbols with expected output still missing then
    feed_left: bool = True  # input was still to come when it began


def recovery_of(fault: Fault, ordered: list[Published], last_expected: dict[str, int]) -> float | None:
    """Seconds from the fault's end until every symbol that still had output to come published
    again (output that needed input sent after the fault began, while such input was due);
    None if some symbol never did."""
    worst = 0.0
    for symbol in fault.pending:
        last = last_expected.get(symbol, -1)
        if any(
            p.arrival <= fault.ended
            and p.value["symbol"] == symbol
            and p.value["engine_timestamp_ms"] >= last
            for p in ordered
        ):
            continue  # everything it had to publish was out before the fault ended: nothing to recover
        mark = fault.watermark.get(symbol, -1)
        needs_new = fault.feed_left and last_expected.get(symbol, -1) > mark
        took = next(
            (
                p.arrival - fault.ended
                for p in ordered
                if p.arrival > fault.ended
                and p.value["symbol"] == symbol
                and (not needs_new or p.value["engine_timestamp_ms"] > mark)
            ),
            None,
        )
        if took is None:
            return None
        worst = max(worst, took)
    return worst


# -- one scenario ----------------------------------------------------------------------


def longest_gap(ordered: list[Published], since: float, until: float) -> float:
    """The longest stretch without a publication on regime.events between `since` (the first
    fault began) and `until` (the last event arrived)."""
    marks = [since, *(p.arrival for p in ordered if since < p.arrival <= until), until]
    return max((b - a for a, b in pairwise(marks)), default=0.0)
