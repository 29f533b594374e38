"""(o) a noisy neighbour (issue 25): one client of the api posting at 10 x its quota, against the
other clients' admission latency, SSE delivery and admitted shares.

The api runs as its own process, as in (f). Three well-behaved clients (weights 3, 2, 1) post
single events at half their `events_per_s`, in proportion to their weights, and hold two SSE
streams each; regime events are produced straight to regime.events at SSE_PER_S, stamped with
their produce time. After an unmeasured warm-up (the api's first requests are slower), phase A:
those three alone (the baseline); phase B: the same, plus `noisy` (weight 2) posting at 10 x its
`events_per_s` and ignoring Retry-After, from a process of its own, as a real neighbour would (in
this process's event loop its 400 requests/s delayed the others' answers here: that measured
the load generator, not the api).

Contention, as workers/api/fairness.py defines it, is the lag of ingest's group on market.raw at
`api.fair_share_from` of `api.ingest_lag_limit` or more; shares are of the drain rate it
measures. The real ingest worker drains thousands of events/s, more than two cores can post as
single requests, so it would never lag; with no consumer the lag only grows, the measured drain
is 0 and every client is held to the 1 event/s floor. So `Drain`, a stand-in of ingest's group
(a thread here), consumes market.raw at a fixed DRAIN_PER_S and commits: the lag is the api's
own gauge's, the capacity is known. DRAIN_PER_S is above what A offers (no contention) and below
what B offers once `noisy` is held to its quota, so in B the lag passes SHARE_FROM x LAG_LIMIT
(100 records) within seconds and stays above it: every client then offers more than its share
and gets about 1.05 x it (the tolerance), so the lag grows by 5 % of the drain, far from the
limit (no backpressure).

Per phase, its first SKIP_S left out: each client's admission latency (POST /v1/events, open
loop from the scheduled send; 202 answers only, as a quick 429 would flatter B) and its streams'
SSE delivery (receipt minus produce time). Shares come from the api's own counters
(`/status.admission.clients`, sampled every 0.5 s) over B from one admission window after
contention began to B's end, against each client's weight over the weights of the clients
active then (all four). Share deviation: share / weight share - 1 (goal within ±5 %).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
from confluent_kafka import Consumer, Producer

from harness.demo.data import synthetic_intraday
from harness.launcher import Launcher, free_port
from workers import clients
from workers.api.client import Connection, SseStream, listen
from workers.config import FleetSettings
from workers.contracts import Serde
from workers.topics import EVENTS, RAW

from .api import _regime_event, _wait_ready
from .fresh import fleet_env, fresh_topics
from .neighbours_report import Answer, Neighbour, Phase, Sample, refusal, summarise, table

HOST = "127.0.0.1"
WELL_BEHAVED = (
    Neighbour("desk", 3, 120, 60, 2, 8),
    Neighbour("risk", 2, 80, 40, 2, 8),
    Neighbour("ops", 1, 40, 20, 2, 8),
)
NOISY = Neighbour("noisy", 2, 40, 400, 0, 32)
DRAIN_PER_S = 130  # A offers 120/s; B 160/s admissible (noisy held to its 40/s quota)
LAG_LIMIT = 1_000
SHARE_FROM = 0.1
WINDOW_S = 5.0  # api.admission_window_s (the default)
SSE_PER_S = 20
SKIP_S = 1.0  # left out at the start of each phase
WARM_UP_S = 5.0  # the well-behaved load before A, not measured


def token(who: Neighbour) -> str:
    return f"bench-{who.name}"


def clients_setting(neighbours: Iterable[Neighbour]) -> str:
    """REGIME_FLEET_API__CLIENTS for these clients."""
    return json.dumps(
        {
            c.name: {
                "token": token(c),
                "weight": c.weight,
                "events_per_s": c.events_per_s,
                "max_streams": max(c.streams, 1),
            }
            for c in neighbours
        }
    )


class Drain(threading.Thread):
    """Stands in for ingest: consumes market.raw as ingest's group at `per_s` events/s,
    committing as it goes, so the api's lag gauge sees a consumer of known capacity."""

    def __init__(self, settings: FleetSettings, per_s: float) -> None:
        super().__init__(name="drain", daemon=True)
        conf = clients.consumer_config(settings, settings.group("ingest"), **{"enable.partition.eof": False})
        self.consumer = Consumer(conf)
        self.topic = settings.topic(RAW)
        self.per_s = per_s
        self.assigned = threading.Event()
        self.stopping = threading.Event()
        self.drained = 0

    def run(self) -> None:
        self.consumer.subscribe([self.topic], on_assign=lambda _c, _p: self.assigned.set())
        budget, last = 0.0, time.monotonic()
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                budget, last = min(budget + (now - last) * self.per_s, self.per_s * 0.2), now
                if budget < 1:
                    self.stopping.wait((1 - budget) / self.per_s)
                    continue
                got = [m for m in self.consumer.consume(int(budget), 0.05) if m.error() is None]
                if got:
                    budget -= len(got)
                    self.drained += len(got)
                    self.consumer.commit(asynchronous=True)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def _feed(settings: FleetSettings, stop: threading.Event) -> None:
    """Regime events at SSE_PER_S to regime.events, each stamped with its produce time."""
    producer = Producer({**clients.producer_config(settings, None), "linger.ms": 0})
    serde, topic = Serde(), settings.topic(EVENTS)
    started, i = time.time(), 0
    while not stop.is_set():
        wait = started + i / SSE_PER_S - time.time()
        if wait > 0:
            stop.wait(wait)
            continue
        event = _regime_event(i)
        event["published_at_ms"] = int(time.time() * 1000)
        producer.produce(topic, serde.encode("OrchestratorEvent", event), event["symbol"].encode())
        producer.poll(0)
        i += 1
    producer.flush(10)


def _bodies(who: Neighbour, phase: str, n: int, seed: int) -> list[bytes]:
    events = synthetic_intraday(20, n // 20 + 1, start_ms=1_750_000_000_000, seed=seed)[:n]
    for e in events:
        e["event_id"] = f"{who.name}-{phase}-{e['event_id']}"
    return [json.dumps(e).encode() for e in events]


async def _offer(port: int, who: Neighbour, bodies: list[bytes], begin: float, out: list[Answer]) -> None:
    """`bodies` as single POSTs at `who.rate` from `begin` (open loop), over its own connections."""
    headers = {"Authorization": f"Bearer {token(who)}", "Content-Type": "application/json"}
    pool = [Connection(HOST, port, headers) for _ in range(who.connections)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in pool:
        idle.put_nowait(conn)

    async def one(due: float, body: bytes) -> None:
        conn = await idle.get()
        try:
            status, answer = await conn.post("/v1/events", body)
        finally:
            idle.put_nowait(conn)
        reason, retry = refusal(status, answer)
        out.append(Answer(due, time.perf_counter() - due, status, reason, retry))

    pending: set[asyncio.Task[None]] = set()
    for i, body in enumerate(bodies):
        due = begin + i / who.rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(one(due, body))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    for conn in pool:
        conn.close()


class NoisyProcess:
    """Phase B's noisy client in a process of its own, as a real neighbour is: its load shares
    the two cores with everything else, not the measuring process's event loop."""

    def __init__(self, port: int, seconds: float) -> None:
        ctx = multiprocessing.get_context("spawn")  # this process has Kafka client threads
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_noisy_main, args=(child, port, seconds), name="noisy", daemon=True)
        self.proc.start()
        child.close()

    async def ready(self) -> None:
        await asyncio.to_thread(self.pipe.recv)

    def go(self, begin_wall: float) -> None:
        self.pipe.send(begin_wall)

    async def answers(self) -> tuple[list[Answer], float]:
        found: tuple[list[Answer], float] = await asyncio.to_thread(self.pipe.recv)
        self.proc.join(10)
        return found


def _noisy_main(pipe: Any, port: int, seconds: float) -> None:
    bodies = _bodies(NOISY, "b", int(NOISY.rate * seconds), seed=len(WELL_BEHAVED))
    gc.collect()
    pipe.send("ready")
    begin_wall: float = pipe.recv()
    answers: list[Answer] = []

    async def offer() -> float:
        begin = time.perf_counter() + (begin_wall - time.time())
        await _offer(port, NOISY, bodies, begin, answers)
        return time.perf_counter() - begin

    elapsed = asyncio.run(offer())
    pipe.send((answers, elapsed))


async def _run_phase(
    port: int, name: str, who: Sequence[Neighbour], seconds: float, noisy: NoisyProcess | None = None
) -> Phase:
    loads = {c.name: _bodies(c, name, int(c.rate * seconds), seed=i) for i, c in enumerate(who)}
    gc.collect()  # not during the phase: a full collection would count as the api's latency
    phase = Phase(name, time.perf_counter() + 0.2, time.time() + 0.2, seconds)
    if noisy is not None:
        noisy.go(phase.wall)
    phase.answers = {c.name: [] for c in who}
    await asyncio.gather(*(_offer(port, c, loads[c.name], phase.started, phase.answers[c.name]) for c in who))
    phase.elapsed = time.perf_counter() - phase.started
    if noisy is not None:
        phase.answers[NOISY.name], elapsed = await noisy.answers()
        phase.elapsed = max(phase.elapsed, elapsed)
    return phase


class Cpu:
    """CPU seconds of the api process and busy cores of the machine between two readings."""

    def __init__(self, api_pid: int) -> None:
        self.api = psutil.Process(api_pid)
        self.at = self._read()

    def _read(self) -> tuple[float, float, float]:
        api, machine = self.api.cpu_times(), psutil.cpu_times()
        return time.perf_counter(), api.user + api.system, sum(machine) - machine.idle - machine.iowait

    def cores(self) -> tuple[float, float]:
        """(api, machine) busy cores since the last call."""
        (t0, api0, all0), self.at = self.at, self._read()
        t1, api1, all1 = self.at
        return round((api1 - api0) / (t1 - t0), 2), round((all1 - all0) / (t1 - t0), 2)


async def _sample(url: str, out: list[Sample], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while not stop.is_set():
            out.append(Sample.of((await http.get("/status")).json(), time.perf_counter()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def _measure(
    url: str, port: int, settings: FleetSettings, seconds: float, api_pid: int
) -> dict[str, Any]:
    cores: dict[str, tuple[float, float]] = {}
    streams = {c.name: [SseStream() for _ in range(c.streams)] for c in WELL_BEHAVED}
    stop = asyncio.Event()
    listening = [
        asyncio.create_task(
            listen(HOST, port, "/v1/stream", s, headers={"Authorization": f"Bearer {token(c)}"}, stop=stop)
        )
        for c in WELL_BEHAVED
        for s in streams[c.name]
    ]
    async with httpx.AsyncClient(base_url=url) as http:
        while (await http.get("/status")).json()["sse"]["clients"] < len(listening):
            await asyncio.sleep(0.1)
    feeding = threading.Event()
    feed = threading.Thread(target=_feed, args=(settings, feeding), name="sse-feed", daemon=True)
    feed.start()
    samples: list[Sample] = []
    sampler = asyncio.create_task(_sample(url, samples, stop))
    try:
        await _run_phase(port, "w", WELL_BEHAVED, WARM_UP_S)  # untimed: the api's first requests are slower
        print(f"    phase A: {', '.join(f'{c.name} {c.rate:.0f}/s' for c in WELL_BEHAVED)}...", flush=True)
        cpu = Cpu(api_pid)
        a = await _run_phase(port, "a", WELL_BEHAVED, seconds)
        cores["a"] = cpu.cores()
        print(
            f"    phase B: the same and {NOISY.name} at {NOISY.rate:.0f}/s (a process of its own)...",
            flush=True,
        )
        noisy = NoisyProcess(port, seconds)
        await noisy.ready()  # its start-up is not phase B's
        cpu.cores()
        b = await _run_phase(port, "b", WELL_BEHAVED, seconds, noisy)
        cores["b"] = cpu.cores()
    finally:
        feeding.set()
        await asyncio.to_thread(feed.join, 15)
        stop.set()
        await sampler
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    found = summarise(
        a,
        b,
        streams,
        samples,
        well_behaved=WELL_BEHAVED,
        noisy=NOISY,
        window_s=WINDOW_S,
        share_from=SHARE_FROM,
        skip_s=SKIP_S,
    )
    for phase, (api, machine) in cores.items():
        found[f"neighbours.api_cores_{phase}"] = api
        found[f"neighbours.busy_cores_{phase}"] = machine
    return found


def neighbours_bench(
    env: dict[str, str], root: Path, settings: FleetSettings, seconds: float, port: int
) -> dict[str, Any]:
    api_env = {
        **env,
        "REGIME_FLEET_API__PORT": str(port),
        "REGIME_FLEET_API__CLIENTS": clients_setting((*WELL_BEHAVED, NOISY)),
        "REGIME_FLEET_API__INGEST_LAG_LIMIT": str(LAG_LIMIT),
        "REGIME_FLEET_API__FAIR_SHARE_FROM": str(SHARE_FROM),
        "REGIME_FLEET_API__ADMISSION_WINDOW_S": str(WINDOW_S),
    }
    drain = Drain(settings, DRAIN_PER_S)
    with Launcher(root / settings.topic_prefix, {**os.environ, **api_env}) as fleet:
        fleet.start_fleet(["api"])
        drain.start()
        try:
            url = f"http://{HOST}:{port}"
            _wait_ready(url)
            if not drain.assigned.wait(60):
                raise TimeoutError(
                    f"the drain never got market.raw's partitions ({settings.group('ingest')})"
                )
            found = asyncio.run(_measure(url, port, settings, seconds, fleet.procs["api"].pid))
        finally:
            fleet.stop_all()
            drain.stop()
    found["neighbours.drained"] = drain.drained
    return found


def run_neighbours_only(root: Path, stamp: str) -> dict[str, Any]:
    """`regime-fleet bench --only neighbours`: (o) alone, on topics of its own;
    BENCH_NEIGHBOURS_S seconds per phase (default 25)."""
    seconds = float(os.environ.get("BENCH_NEIGHBOURS_S", "25"))
    with fresh_topics(f"bench{stamp}o.", root) as (settings, _topology):
        print(
            f"(o) noisy neighbour: api clients {', '.join(c.name for c in WELL_BEHAVED)} alone, then with "
            f"{NOISY.name} at 10 x its quota; {seconds:.0f} s each, ingest's group draining {DRAIN_PER_S}/s...",
            flush=True,
        )
        found = neighbours_bench(fleet_env(settings.topic_prefix, root), root, settings, seconds, free_port())
    print(table(found, WELL_BEHAVED, NOISY), flush=True)
    return found
