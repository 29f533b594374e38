"""(c) The regime pipeline in steady state: the four workers as processes, raw events offered at
fixed rates one window after another on one fleet, and per window the achieved rate,
p50/p95/p99/max from producing the record that fires a run to its event on regime.events,
the groups' lag (is it bounded?), each worker's RSS and CPU seconds per 1,000 events.

The window sequence: a warm-up (the broker's JIT, see warm_up); the fixed rates; the capacity
(the output rate while offered more than the fleet takes); the maximum (0.9 x the capacity or
the highest fixed rate kept up with, whichever is higher: sustained if the lag stays bounded;
then a quarter more at a time, up to CLIMBS times, while it stays bounded); a quarter of the
sustained maximum (the rate the latency goal names); overload at 1.5 x that maximum; then the
fleet drains, and every run must have come out exactly once.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import KafkaException, Producer
from prometheus_client.parser import text_string_to_metric_families

from harness.broker.local import LocalBroker
from harness.demo.data import synthetic_intraday
from harness.lag import GroupLag
from harness.launcher import Launcher
from workers import clients
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.topics import EVENTS
from workers.topology import Topology

from .fresh import INTERVAL_MS, PARTITIONS, fleet_env, fresh_topics
from .hops import HopTracer, print_breakdown
from .jvm import compile_seconds
from .measure import LatencyProbe

SYMBOLS = 20
WARM_UP_S = 20.0  # each warm-up window before the fixed rates (see warm_up)
WARM_UP_MAX_S = 120.0
WARM_COMPILING = 0.1  # compile seconds a second: below this the broker counts as warm
SETTLE_S = 5.0  # the start of each window is left out: the previous rate's queue drains
SAMPLE_S = 2.0
CAPACITY_OFFER = 40_000  # events/s offered to find the capacity: more than the fleet takes
CLIMBS = 3  # windows a quarter above a sustained maximum, at most


@dataclass
class Window:
    name: str
    rate: int  # offered events/s; 0: as fast as the producer goes
    seconds: float


class Offered:
    """Pre-encoded raw events in event-time order, handed out window by window; generated in
    chunks between windows (never while one is measured), the event time running on."""

    CHUNK = 200_000

    def __init__(self, seed: int = 5) -> None:
        self.records: list[tuple[str, int, bytes]] = []  # (symbol, event_ts_ms, value)
        self.at = 0
        self._seed = seed
        self._next_ms = 1_760_000_000_000
        self._serde = Serde()

    def take(self, n: int) -> list[tuple[str, int, bytes]]:
        while len(self.records) < self.at + n:
            self._grow()
        batch = self.records[self.at : self.at + n]
        self.at += len(batch)
        return batch

    def _grow(self) -> None:
        chunk = len(self.records) // self.CHUNK
        events = synthetic_intraday(
            SYMBOLS, self.CHUNK // SYMBOLS, snapshot_every=60, start_ms=self._next_ms, seed=self._seed + chunk
        )
        for e in events:
            e["event_id"] = f"c{chunk}-{e['event_id']}"
            self.records.append((e["symbol"], e["event_ts_ms"], self._serde.encode("RawMarketEvent", e)))
        self._next_ms = max(e["event_ts_ms"] for e in events) + 1_000

    def runs_so_far(self) -> int:
        """Runs fired by the records handed out so far (each symbol's open cut fires later)."""
        buckets: dict[str, set[int]] = {}
        for symbol, ts, _ in self.records[: self.at]:
            buckets.setdefault(symbol, set()).add(ts // INTERVAL_MS)
        return sum(len(b) - 1 for b in buckets.values())

    def events_per_run(self) -> float:
        return self.at / max(self.runs_so_far(), 1)


@dataclass
class Samples:
    """Every SAMPLE_S: each group's lag and each worker's RSS."""

    lag: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    rss: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def between(self, start: float, end: float) -> tuple[list[dict[str, int]], list[dict[str, float]]]:
        return (
            [v for t, v in self.lag if start <= t <= end],
            [v for t, v in self.rss if start <= t <= end],
        )


class Steady:
    """One fleet on fresh topics, the load generator, the latency probe and the samplers."""

    def __init__(
        self, settings: FleetSettings, topology: Topology, fleet: Launcher, *, trace: bool = False
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.fleet = fleet
        self.probe = LatencyProbe(settings, settings.partitions)
        self.tracer = HopTracer(settings, settings.partitions) if trace else None
        self.samples = Samples()
        self._producer = Producer({**clients.producer_config(settings, None), "linger.ms": 1})
        self._stop = threading.Event()
        self.started = time.time()
        self.broker_pid = local_broker_pid(settings)
        self.lag = GroupLag(settings, topology, fleet.workers)

    # -- load ---------------------------------------------------------------------------

    def offer(self, records: list[tuple[str, int, bytes]], rate: int) -> float:
        """Produce at `rate` events/s (0: as fast as possible); seconds it took. Whatever is due
        is produced at once, then the generator sleeps at least a millisecond (librdkafka's poll
        rounds its timeout down to whole milliseconds: shorter waits would spin a core)."""
        topic = self.settings.topic("market.raw")
        producer, sent = self._producer, self.probe.sent
        started = time.monotonic()
        i, n = 0, len(records)
        while i < n:
            due = n if not rate else min(n, int((time.monotonic() - started) * rate) + 1)
            for symbol, ts, value in records[i:due]:
                sent[symbol].append((ts, time.time()))
                while True:
                    try:
                        producer.produce(topic, value, symbol.encode())
                        break
                    except BufferError:
                        producer.poll(0.01)
            i = due
            producer.poll(max(0.001, started + i / rate - time.monotonic()) if rate and i < n else 0)
        producer.flush(30)
        return time.monotonic() - started

    # -- sampling -----------------------------------------------------------------------

    def start_sampling(self) -> None:
        def loop() -> None:
            while not self._stop.wait(SAMPLE_S):
                now = time.time()
                with contextlib.suppress(KafkaException):  # a slow broker answer: skip this sample
                    self.samples.lag.append((now, self.lag.measure()))
                self.samples.rss.append((now, {w: rss_mb(p.pid) for w, p in self.fleet.procs.items()}))

        threading.Thread(target=loop, name="bench-samples", daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.lag.close()

    # -- one window ---------------------------------------------------------------------

    def window(self, w: Window, offered: Offered) -> dict[str, Any]:
        count = int(w.rate * w.seconds) if w.rate else int(w.seconds)
        records = offered.take(count)
        # jcmd attaches to the broker: asked outside the CPU readings, so they do not count it.
        jit_before = compile_seconds(self.broker_pid)
        cpu_before = cpu_seconds(self.fleet, self.broker_pid)
        start = time.time()
        elapsed = self.offer(records, w.rate)
        end = time.time()
        cpu = cpu_seconds(self.fleet, self.broker_pid)
        jit = compile_seconds(self.broker_pid)
        lags, rss = self.samples.between(start, end + 0.5)
        total_lag = [sum(v.values()) for v in lags]
        found: dict[str, Any] = {
            "offered_per_s": w.rate or None,
            "achieved_per_s": round(len(records) / elapsed),
            "seconds": round(elapsed, 1),
            "sent": [start + SETTLE_S, end],  # the runs fired in here count: latency() after the drain
            "peak_lag": max(total_lag, default=None),
            "end_lag": total_lag[-1] if total_lag else None,
            "end_lag_by_group": lags[-1] if lags else {},
            "peak_rss_mb": _peak(rss),
            # The peak in each quarter of the window: flat when memory has levelled off.
            "rss_mb_by_quarter": [_peak(rss[i * len(rss) // 4 : (i + 1) * len(rss) // 4]) for i in range(4)],
            "cpu_s_per_1000": {k: round((cpu[k] - cpu_before[k]) / len(records) * 1000, 4) for k in cpu},
            # CPU seconds per second of everything measured: 2.0 is both cores busy.
            "cores_busy": round(sum(cpu[k] - cpu_before[k] for k in cpu) / elapsed, 2),
            # Of the broker's: its JIT compiling (wall time, an upper bound), high while it warms up.
            "broker_jit_s_per_1000": None
            if jit is None or jit_before is None
            else round((jit - jit_before) / len(records) * 1000, 4),
        }
        return found

    def latency(self, found: dict[str, Any]) -> None:
        """Add the latency of the runs fired in a window (once they have all come out)."""
        start, end = found.pop("sent")
        lat = np.array(self.probe.latencies(start, end)) * 1000
        found["runs"] = int(lat.size)
        found.update({f"p{q}_ms": _pct(lat, q) for q in (50, 95, 99)})
        found["max_ms"] = round(float(lat.max()), 1) if lat.size else None
        if self.tracer is not None:
            found["hops"] = self.tracer.breakdown(start, end)
            print_breakdown(found["offered_per_s"] or 0, found["hops"])

    def drain(self, timeout_s: float = 180) -> float:
        return self.lag.wait_drained(timeout_s)


@contextmanager
def steady_fleet(
    root: Path,
    prefix: str,
    *,
    partitions: int = PARTITIONS,
    replicas: dict[str, int] | None = None,
    trace: bool = False,
) -> Iterator[Steady]:
    with fresh_topics(prefix, root, partitions=partitions) as (settings, topology):
        env = {**os.environ, **fleet_env(settings.topic_prefix, root, partitions=partitions)}
        with Launcher(root / settings.topic_prefix, env) as fleet:
            fleet.start_fleet(topology.upstream(EVENTS), replicas)
            steady = Steady(settings, topology, fleet, trace=trace)
            try:
                time.sleep(8)  # group joins
                steady.probe.listen()
                if steady.tracer is not None:
                    steady.tracer.start()
                steady.start_sampling()
                yield steady
            finally:
                steady.probe.stop()
                if steady.tracer is not None:
                    steady.tracer.stop()
                steady.close()
                fleet.stop_all()


def warm_up(steady: Steady, offered: Offered, rate: int) -> dict[str, Any]:
    """A broker started minutes before compiles for minutes (its JIT, on 2 cores), which the
    first windows' broker CPU and latency would count: offer `rate` in WARM_UP_S windows until
    the broker spends less than WARM_COMPILING s a second compiling, at most WARM_UP_MAX_S (one
    window when its compile time cannot be read). The last window is reported."""
    spent = 0.0
    while True:
        print(f"(c) warming up: {rate} events/s for {WARM_UP_S:.0f} s...", flush=True)
        found = steady.window(Window("warm_up", rate, WARM_UP_S), offered)
        steady.drain()
        spent += WARM_UP_S
        jit = found["broker_jit_s_per_1000"]
        compiling = None if jit is None else jit * rate / 1000  # compile seconds per second
        if compiling is None or compiling < WARM_COMPILING or spent >= WARM_UP_MAX_S:
            found["warm_up_s"] = spent
            return found
        print(f"(c) the broker is still compiling ({compiling:.2f} s of compile time a second)", flush=True)


def run_windows(steady: Steady, offered: Offered, fixed: list[Window], seconds: float) -> dict[str, Any]:
    """The fixed rates, the capacity, the maximum, overload, the drain; and the loss check."""
    out: dict[str, Any] = {}
    with quiet_collector():
        out["warm_up"] = warm_up(steady, offered, max(w.rate for w in fixed))
        for w in fixed:
            print(f"(c) {w.rate} events/s for {w.seconds:.0f} s...", flush=True)
            out[w.name] = steady.window(w, offered)
        probe_s = min(10.0, seconds / 2)
        print(f"(c) capacity: {CAPACITY_OFFER} events/s offered for {probe_s:.0f} s...", flush=True)
        out["capacity_events_per_s"] = round(capacity(steady, offered, probe_s))
        steady.drain()
        # The capacity probe runs while the load generator itself takes a core, so it can come
        # out below a fixed rate the fleet has already kept up with: start from the higher.
        kept_up = [w.rate for w in fixed if _bounded(out[w.name], w.rate)]
        start = max(int(0.9 * out["capacity_events_per_s"]), *kept_up, 100) // 100 * 100
        top = Window("max", start, seconds)
        print(f"(c) the maximum: {top.rate} events/s for {seconds:.0f} s...", flush=True)
        out["max"] = steady.window(top, offered)
        out["max"]["sustained"] = _bounded(out["max"], top.rate)
        if out["max"]["sustained"]:
            for _ in range(CLIMBS):  # kept up: a quarter more, while it keeps up
                steady.drain()
                higher = Window("max", int(1.25 * top.rate) // 100 * 100, seconds)
                print(f"(c) kept up; {higher.rate} events/s for {seconds:.0f} s...", flush=True)
                found = steady.window(higher, offered)
                found["sustained"] = _bounded(found, higher.rate)
                if not found["sustained"]:
                    out["max_high"] = found
                    break
                out["max"], top = found, higher
        else:
            # The estimate was high: 0.9 x what the fleet processed while the lag grew, once.
            out["max_high"] = out.pop("max")
            processed = top.rate - (out["max_high"]["end_lag"] or 0) / seconds
            steady.drain()
            top = Window("max", int(0.9 * processed) // 100 * 100, seconds)
            print(
                f"(c) the lag grew; the maximum again: {top.rate} events/s for {seconds:.0f} s...", flush=True
            )
            out["max"] = steady.window(top, offered)
            out["max"]["sustained"] = _bounded(out["max"], top.rate)
        if out["max"]["sustained"]:  # the latency goal's rate: a quarter of the sustained maximum
            steady.drain()
            quarter = Window("quarter_max", max(top.rate // 4 // 100 * 100, 100), seconds)
            print(f"(c) a quarter of the maximum: {quarter.rate} events/s for {seconds:.0f} s...", flush=True)
            out["quarter_max"] = steady.window(quarter, offered)
        over = Window("overload", int(1.5 * top.rate), seconds)
        print(f"(c) overload: {over.rate} events/s for {seconds:.0f} s, then the drain...", flush=True)
        out["overload"] = steady.window(over, offered)
        out["overload"]["drain_s"] = round(steady.drain(), 1)
    time.sleep(3)  # the last runs' events reach the probe
    for found in out.values():
        if isinstance(found, dict) and "sent" in found:
            steady.latency(found)
    expected = offered.runs_so_far()
    received = steady.probe.run_ids
    out["runs_expected"] = expected
    out["runs_received"] = len(received)
    out["runs_distinct"] = len(set(received))
    out["lost_or_duplicated"] = expected != len(received) or len(received) != len(set(received))
    return out


@contextmanager
def quiet_collector() -> Iterator[None]:
    """No garbage collection in the bench process while it measures: a full collection over
    millions of pre-encoded records would stall the load and the probe for 100+ ms, and count
    as fleet latency. The records form no cycles; collection resumes afterwards."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def capacity(steady: Steady, offered: Offered, seconds: float) -> float:
    """Events/s the fleet turns into regime events while offered more than it can take: the run
    rate over the second half of `seconds` at CAPACITY_OFFER, times events per run."""
    records = offered.take(int(seconds * CAPACITY_OFFER))
    producing = threading.Thread(target=steady.offer, args=(records, CAPACITY_OFFER), daemon=True)
    producing.start()
    time.sleep(seconds / 2)
    first, t0 = len(steady.probe.run_ids), time.monotonic()
    time.sleep(seconds / 2)
    runs = len(steady.probe.run_ids) - first
    rate = runs / (time.monotonic() - t0) * offered.events_per_run()
    producing.join(seconds * 3)
    return rate


def _bounded(found: dict[str, Any], rate: int) -> bool:
    """The lag at the end of the window is under two seconds of input."""
    return found["end_lag"] is not None and found["end_lag"] <= 2 * rate


def _peak(rss: list[dict[str, float]]) -> dict[str, float]:
    return {k: max(r[k] for r in rss) for k in rss[0]} if rss else {}


def _pct(values: np.ndarray, q: int) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values.size else None


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(fleet: Launcher, broker: int | None) -> dict[str, float]:
    """User + system CPU seconds so far of each worker process, the local broker (when there is
    one) and this process (the load, the probe and the samplers)."""
    pids = {worker: proc.pid for worker, proc in fleet.procs.items()}
    if broker is not None:
        pids["broker"] = broker
    out = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    own = os.times()
    out["bench"] = own.user + own.system
    return out


def local_broker_pid(settings: FleetSettings) -> int | None:
    """The pid of `regime-fleet broker up` serving the bootstrap address, if that is where it runs."""
    host, _, port = settings.kafka.bootstrap_servers.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        return None
    return LocalBroker(port=int(port)).running_pid()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except FileNotFoundError:
        pass
    return 0.0


def checkpoints(fleet: Launcher, seconds: float) -> dict[str, dict[str, float]]:
    """Per worker from its /metrics: checkpoints per second, their mean duration, the mean batch."""
    out = {}
    for worker, port in fleet.ports.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.endswith(("_sum", "_count"))
        }
        commits = samples.get("regime_fleet_checkpoint_seconds_count", 0.0)
        batches = samples.get("regime_fleet_batch_size_count", 0.0)
        out[worker] = {
            "checkpoints_per_s": round(commits / seconds, 1),
            "checkpoint_ms": round(
                1000 * samples.get("regime_fleet_checkpoint_seconds_sum", 0.0) / max(commits, 1), 1
            ),
            "batch": round(samples.get("regime_fleet_batch_size_sum", 0.0) / max(batches, 1), 1),
        }
    return out
