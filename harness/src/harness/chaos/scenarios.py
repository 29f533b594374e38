"""The chaos scenarios: one function each, given a ScenarioRun, the input size and a seeded RNG.

A scenario starts the fleet with its input (`run.begin`), injects its faults while the
input flows, and returns; the runner then waits for the output and compares it.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.fleet import WORKERS, HarnessError, kafka_partition
from harness.chaos.harness import Limits, ScenarioRun
from harness.demo.data import index_events, synthetic_intraday
from workers.contracts import Serde
from workers.contracts.identity import event_id

YEAR_2096_MS = 3_989_000_000_000  # 2096-05-28, inside ingest's accepted range (before 2100)
OVERSIZED_BYTES = 999_950


@dataclass(frozen=True)
class Size:
    days: int  # daily bars per index (SPX, NDX)
    synthetic: int  # seeded intraday symbols, for volume
    synthetic_events: int
    rate: float  # events/s: the input flows while faults land
    kills: int  # random SIGKILLs; 0 = each worker once
    repeats: int  # broker faults, scale cycles
    limits: Limits


SHORT = Size(
    days=300, synthetic=2, synthetic_events=600, rate=150, kills=0, repeats=1, limits=Limits(75, 15, 120)
)
LONG = Size(
    days=1500, synthetic=4, synthetic_events=3000, rate=250, kills=12, repeats=2, limits=Limits(90, 20, 240)
)


def market_events(size: Size) -> list[dict[str, Any]]:
    """SPX and NDX daily bars (arch) and seeded intraday symbols, interleaved as they would arrive."""
    streams = [list(index_events(s, days=size.days, window=20)) for s in ("SPX", "NDX")]
    intraday = synthetic_intraday(size.synthetic, size.synthetic_events, step_ms=1_200_000, snapshot_every=36)
    streams += [[e for e in intraday if e["symbol"] == f"SYN{i:03d}"] for i in range(size.synthetic)]
    ranked = [((i + 1) / len(s), n, e) for n, s in enumerate(streams) for i, e in enumerate(s)]
    return [e for _, _, e in sorted(ranked, key=lambda x: (x[0], x[1]))]


def _spread(n: int, rng: random.Random, lo: float = 0.15, hi: float = 0.85) -> list[float]:
    """n moments of the feed, evenly spaced with jitter."""
    return [lo + (hi - lo) * (i + rng.random()) / n for i in range(n)]


# -- 0. no fault ------------------------------------------------------------------------


def baseline(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """No fault: the control that shows the harness and the reference agree."""
    run.begin(market_events(size), size.rate)


# -- 1. SIGKILLs -------------------------------------------------------------------------


def sigkill(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """SIGKILL workers at random moments mid-stream; each is restarted at once."""
    run.begin(market_events(size), size.rate)
    victims = rng.sample(WORKERS, len(WORKERS)) if size.kills == 0 else rng.choices(WORKERS, k=size.kills)
    for moment, worker in zip(_spread(len(victims), rng), victims, strict=True):
        run.wait_fraction(moment)
        run.kill(worker)


def sigkill_standby(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """The same SIGKILLs, each worker with a warm standby beside it (runtime.slot): the
    standby takes the slot, the transactional.id and the static membership at once."""
    run.standby = True
    sigkill(run, size, rng)


# -- 2. the broker -----------------------------------------------------------------------


def broker_stop(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Stop the broker cleanly for 10 s mid-stream, then start it again (same data)."""
    run.begin(market_events(size), size.rate)
    for moment in _spread(size.repeats, rng, 0.3, 0.7):
        run.wait_fraction(moment)
        run.broker_stop(10)


def broker_kill(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """SIGKILL the broker mid-stream and start it again after 5 s."""
    run.begin(market_events(size), size.rate)
    for moment in _spread(size.repeats, rng, 0.3, 0.7):
        run.wait_fraction(moment)
        run.broker_kill(5)


# -- 3. a restart over an open transaction -----------------------------------------------


def open_transaction(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """SIGSTOP a worker while records flow (it holds an open transaction), SIGKILL it after
    2 s and start its replacement over the dead predecessor's transaction."""
    run.begin(market_events(size), size.rate)
    victims = ["ingest", "engine"] if size.kills == 0 else list(WORKERS)
    for moment, worker in zip(_spread(len(victims), rng, 0.2, 0.7), victims, strict=True):
        run.wait_fraction(moment)
        run.pause_then_kill(worker, 2.0)


# -- 4. scaling --------------------------------------------------------------------------


def scale(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Scale engine and publisher 1 -> 3 -> 1 mid-stream (distinct instance ids; SIGTERM down)."""
    run.begin(market_events(size), size.rate)
    for cycle in range(size.repeats):
        run.wait_fraction(0.1 + 0.8 * cycle / size.repeats)
        run.scale("engine", 3)
        run.scale("publisher", 3)
        run.wait_fraction(0.1 + 0.8 * (cycle + 0.5) / size.repeats)
        run.scale("engine", 1)
        run.scale("publisher", 1)


# -- 5. poison ---------------------------------------------------------------------------

BINARY_HEADER = ("chaos", b"\xff\xfe\x00\x80 not utf-8")


def _garbage(label: str) -> bytes:
    return b"\x00\xfechaos-poison:" + label.encode() + os.urandom(16)


def _partition(run: ScenarioRun, symbol: str) -> int:
    return kafka_partition(symbol.encode(), run.settings.partitions)


def poison_inputs(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Bytes that are no record, written (non-transactionally) to market.buffer (one keyed
    SPX, one with a binary key), engine.runs and engine.results while the fleet runs;
    then every worker restarts. Each must reach a dead-letter topic, byte for byte."""
    events = market_events(size)
    run.begin(events, size.rate)
    wrapped = {
        "event": events[0],
        "source_topic": "market.raw",
        "source_partition": 0,
        "source_offset": 0,
        "ingest_ts_ms": 0,
        "correlation_id": "chaos",
    }
    buffered = run.serde.encode("RawInputBufferRecord", wrapped)
    truncated = buffered[: len(buffered) // 2] + os.urandom(8)  # right magic and fingerprint, cut short
    spx, ndx = _partition(run, "SPX"), _partition(run, "NDX")
    run.wait_fraction(0.3)
    run.produce_raw("market.buffer", b"SPX", truncated, [BINARY_HEADER], partition=spx, poison=True)
    run.produce_raw(
        "market.buffer", b"\xff\xfeSPX\x00", _garbage("buffer"), [BINARY_HEADER], partition=spx, poison=True
    )
    run.produce_raw(
        "engine.runs", b"chaos-poison-run", _garbage("runs"), [BINARY_HEADER], partition=ndx, poison=True
    )
    run.produce_raw(
        "engine.results", b"NDX", _garbage("results"), [BINARY_HEADER], partition=ndx, poison=True
    )
    run.wait_fraction(0.5)
    for worker in WORKERS:
        run.restart(worker)


def poison_changelogs(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Each stateful worker in turn stops; garbage becomes the newest changelog record of
    one symbol of its store (cuts: SPX, hysteresis: NDX, chain: SYN000); it starts again,
    finds the record on restore and rebuilds the partition from its inputs."""
    run.begin(market_events(size), size.rate)
    for moment, (worker, topic, symbol) in zip(
        _spread(3, rng, 0.3, 0.6),
        (
            ("scheduler", "scheduler.cuts.changelog", "SPX"),
            ("engine", "engine.hysteresis.changelog", "NDX"),
            ("publisher", "publisher.chain.changelog", "SYN000"),
        ),
        strict=True,
    ):
        run.wait_fraction(moment)
        run.restart(worker, between=_corrupt(run, topic, symbol))


def _corrupt(run: ScenarioRun, topic: str, symbol: str) -> Callable[[], None]:
    def write() -> None:
        # Not an input record: it is healed (rewritten from the rebuild), never dead-lettered.
        part = _partition(run, symbol)
        run.produce_raw(topic, symbol.encode(), _garbage(topic), [BINARY_HEADER], partition=part)

    return write


# -- 5b. lost local state, rolling restarts ---------------------------------------------


def lost_state_dir(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Each stateful worker in turn stops and its local state directory is deleted while it
    is down (a pod rescheduled to a new node); it restores from its changelogs."""
    run.begin(market_events(size), size.rate)
    for moment, worker in zip(_spread(3, rng, 0.3, 0.6), ("scheduler", "engine", "publisher"), strict=True):
        run.wait_fraction(moment)
        run.restart(worker, between=_forget_state(run, worker))


def _forget_state(run: ScenarioRun, worker: str) -> Callable[[], None]:
    def forget() -> None:
        shutil.rmtree(Path(run.settings.runtime.state_dir) / run.settings.group(worker), ignore_errors=True)

    return forget


def rolling_restart(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Every worker restarted one at a time (SIGTERM, start, ready), as a Kubernetes rollout."""
    run.begin(market_events(size), size.rate)
    run.judge_by_gap = True
    run.wait_fraction(0.3)
    for worker in WORKERS:
        run.restart(worker)
        run.fleet.wait_ready(60, [worker])


def rolling_restart_standby(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """The same rollout with a warm standby beside each worker: the active process drains on
    SIGTERM, its standby takes the slot, and the restarted process stands by in its turn."""
    run.standby = True
    rolling_restart(run, size, rng)


# -- 6. an oversized event ---------------------------------------------------------------


def oversized_event(like: dict[str, Any], serde: Serde, size_bytes: int = OVERSIZED_BYTES) -> dict[str, Any]:
    """A valid TRADE whose encoded RawMarketEvent is exactly `size_bytes` (padded `source`)."""
    event: dict[str, Any] = {
        "event_id": f"{like['symbol']}-oversized",
        "symbol": like["symbol"],
        "event_ts_ms": like["event_ts_ms"],
        "kind": "TRADE",
        "trade": {"price": 100.0, "size": 1.0, "side": "BUY"},
        "quote": None,
        "bar": None,
        "snapshot_inputs": None,
        "source": "",
    }
    for _ in range(4):  # the string's length prefix is a varint: converge in a step or two
        missing = size_bytes - len(serde.encode("RawMarketEvent", event))
        event["source"] += "x" * missing
    return event


def oversized(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """One valid ~1 MB event in the middle of SPX (written by a client that allows it).
    Processing it or dead-lettering it with a reason are both acceptable; crashing is not."""
    events = market_events(size)
    middle = next(i for i in range(len(events) // 2, len(events)) if events[i]["symbol"] == "SPX")
    big = oversized_event(events[middle], run.serde)
    as_sent = [*events[: middle + 1], big, *events[middle + 1 :]]
    run.begin(events, size.rate, clean=as_sent, alternatives=(("the oversized event dead-lettered", events),))
    assert run.feed is not None
    run.feed.hold_at = middle + 1
    if not run.feed.held.wait(3 * run.feed.nominal_s + 30):
        raise HarnessError("the feed never reached the oversized event's place")
    time.sleep(0.5)  # what the feed sent before it is delivered first
    headers = [("schema", b"RawMarketEvent"), ("event_type", b"TRADE")]
    run.produce_raw("market.raw", b"SPX", run.serde.encode("RawMarketEvent", big), headers)
    run.feed.release()


# -- 7. hostile input --------------------------------------------------------------------


def hostile(run: ScenarioRun, size: Size, rng: random.Random) -> None:
    """Mid-stream: an SPX event dated 2096; copies of NDX events already sent whose Kafka key
    is not their symbol (null, empty, another symbol's); a well-formed EngineRunCompleted
    for SYN000 dated 2096 written straight to engine.results. Expected: the clean input's
    output, untouched."""
    events = market_events(size)
    run.begin(events, size.rate)
    serde, n = run.serde, run.settings.partitions
    run.wait_fraction(0.4)
    assert run.feed is not None
    sent = events[: run.feed.sent]

    def raw(e: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
        return serde.encode("RawMarketEvent", e), [
            ("schema", b"RawMarketEvent"),
            ("event_type", e["kind"].encode()),
        ]

    spx = next(e for e in reversed(sent) if e["symbol"] == "SPX")
    future = {**spx, "event_id": "SPX-2096-hostile", "event_ts_ms": YEAR_2096_MS}
    run.produce_raw("market.raw", b"SPX", *raw(future))

    home = kafka_partition(b"NDX", n)
    other = next(s for s in ("SPX", "SYN000", "SYN001", "OTHER") if kafka_partition(s.encode(), n) != home)
    ndx = [e for e in sent if e["symbol"] == "NDX"][-6:]  # three days: BAR, SNAPSHOT_INPUTS each
    # The other symbol's key first: its partition is known, so the copies arrive in order there.
    for wrong_key in (other.encode(), b"", None):
        for e in ndx:
            run.produce_raw("market.raw", wrong_key, *raw(e))

    template = next(
        v for v in run.references[0][1] if v["symbol"] == "SYN000" and v["event_type"] == "EngineRunCompleted"
    )
    forged_run = "f0" * 16
    forged = {
        **template,
        "run_id": forged_run,
        "event_id": event_id(forged_run, "EngineRunCompleted"),
        "engine_timestamp_ms": YEAR_2096_MS,
    }
    run.produce_raw(
        "engine.results",
        b"SYN000",
        serde.encode("OrchestratorEvent", forged),
        [
            ("event_type", b"EngineRunCompleted"),
            ("schema", b"orchestrator_event"),
            ("run_id", forged_run.encode()),
        ],
        partition=kafka_partition(b"SYN000", n),
    )


# -- the registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[ScenarioRun, Size, random.Random], None]
    summary: str
    overrides: dict[str, str] = field(default_factory=dict)
    touches_broker: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("baseline", baseline, "no fault (the control)"),
        Scenario("sigkill-truth", sigkill, "SIGKILL each worker mid-stream, truth mode"),
        Scenario(
            "sigkill-hysteresis",
            sigkill,
            "SIGKILL each worker mid-stream, hysteresis mode",
            {"engine__mode": "hysteresis"},
        ),
        Scenario("sigkill-standby", sigkill_standby, "SIGKILL each worker mid-stream, warm standbys"),
        Scenario("broker-stop", broker_stop, "broker stopped for 10 s, then started", touches_broker=True),
        Scenario("broker-kill", broker_kill, "broker SIGKILLed, started after 5 s", touches_broker=True),
        Scenario("open-transaction", open_transaction, "SIGSTOP then SIGKILL mid-transaction, restart"),
        Scenario("scale", scale, "engine and publisher scaled 1 -> 3 -> 1"),
        Scenario(
            "poison-inputs",
            poison_inputs,
            "garbage on market.buffer, engine.runs and engine.results; restart every worker",
            {"engine__mode": "hysteresis"},
        ),
        Scenario(
            "poison-changelogs",
            poison_changelogs,
            "garbage as the newest record of each changelog; restart the stateful workers",
            {"engine__mode": "hysteresis"},
        ),
        Scenario(
            "lost-state-dir",
            lost_state_dir,
            "each stateful worker's local state dir deleted while it is down",
            {"engine__mode": "hysteresis"},
        ),
        Scenario("rolling-restart", rolling_restart, "every worker restarted one at a time (a rollout)"),
        Scenario(
            "rolling-restart-standby",
            rolling_restart_standby,
            "every worker's active process restarted one at a time, warm standbys beside them",
        ),
        Scenario("oversized", oversized, f"one valid {OVERSIZED_BYTES:,}-byte event on market.raw"),
        Scenario("hostile", hostile, "an event dated 2096, wrong keys, a forged result on engine.results"),
    )
}
