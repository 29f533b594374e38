"""The chaos harness: the suite's own broker, a supervised fleet of worker processes, fault
actions against both, and the comparison of what the fleet published with a reference.

The reference is the fleet's pure cores chained in memory over the same input; the
comparison is on the authoritative projection two independent fleets agree on (offsets,
run_ids and wall clocks differ between fleets, regimes and input hashes must not).
"""

from __future__ import annotations

import random
import shutil
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from harness.chaos.fleet import WORKERS, ChaosBroker, ChaosFleet, HarnessError, Key, offsets_pending
from harness.chaos.observe import (
    Fault,
    Feed,
    OutputMonitor,
    Published,
    compare,
    key,
    longest_gap,
    provenance_verify,
    raw_records,
    recovery_of,
    reference_events,
)
from workers import clients
from workers.contracts import Serde
from workers.topology import load_topology


@dataclass(frozen=True)
class Limits:
    """How long a scenario may take; every wait in the suite is bounded by one of these."""

    recovery_budget_s: float  # after the last fault a stall this long still counts as recovering
    quiet_s: float  # once past that budget, this much silence ends the wait
    max_wait_s: float  # hard bound on the wait after the feed finished
    max_recovery_s: float = 30.0  # a longer stall after a worker fault fails the scenario
    # After a broker restart the group and transaction coordinators reload first, and a
    # client call stuck across the outage is abandoned only at its bound.
    max_broker_recovery_s: float = 60.0
    settle_s: float = 3.0  # after the last expected event, to catch duplicates


@dataclass
class ScenarioResult:
    name: str
    status: str = "error"  # clean | failed | skipped | error
    expected: int = 0
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    mismatched: int = 0
    extra: int = 0
    stuck: str = ""
    kills: int = 0
    broker_restarts: int = 0
    unexpected_exits: int = 0
    recovery_s: float | None = None  # longest over the faults that recovered; None: no such fault
    unrecovered: int = 0  # faults after which no output came at all
    recovery_ok: bool = True  # every fault recovered within Limits.max_recovery_s
    provenance: str = ""
    provenance_ok: bool = False
    dlq_ok: bool = True  # every poison record reached a dead-letter topic intact
    dead_letters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def judge(self) -> None:
        bad = (
            self.lost
            or self.duplicated
            or self.out_of_order
            or self.mismatched
            or self.extra
            or self.stuck
            or self.unexpected_exits
            or not self.recovery_ok
            or not self.provenance_ok
            or not self.dlq_ok
        )
        self.status = "failed" if bad else "clean"


class ScenarioRun:
    """One scenario's fleet, topics, input feed and output monitor, and its fault log."""

    def __init__(
        self,
        name: str,
        broker: ChaosBroker,
        bootstrap: str,
        root: Path,
        overrides: dict[str, str],
        limits: Limits,
        say: Callable[[str], None],
    ) -> None:
        self.name = name
        self.broker = broker
        self.limits = limits
        self.say = say
        # Unique even when two suites start a scenario in the same second on one broker.
        prefix = f"chaos-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}-{name}."
        self.fleet = ChaosFleet(bootstrap, prefix, root, overrides)
        self.settings = self.fleet.settings
        self.serde = Serde.of(self.settings)
        self.result = ScenarioResult(name)
        self.faults: list[Fault] = []
        self.judge_by_gap = False  # a rollout: judged by the longest gap in regime.events
        self.standby = False  # each worker with a warm standby (runtime.slot) beside it
        self.references: list[tuple[str, list[dict[str, Any]]]] = []
        self.expected_keys: set[Key] = set()
        self.monitor: OutputMonitor | None = None
        self.feed: Feed | None = None
        self.broker_restarts = 0
        self.poison: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self._producer: Producer | None = None
        self._topics = False

    # -- set-up --------------------------------------------------------------------

    def begin(
        self,
        events: list[dict[str, Any]],
        rate: float,
        *,
        clean: list[dict[str, Any]] | None = None,
        alternatives: tuple[tuple[str, list[dict[str, Any]]], ...] = (),
    ) -> None:
        """Topics, the four workers, the monitor, then the paced feed. `clean` is the input
        the expected output comes from (default: `events`); `alternatives` are other
        inputs whose output is acceptable too (e.g. with a rejected record left out)."""
        self.references = [("as sent", reference_events(self.settings, clean or events))]
        self.references += [(label, reference_events(self.settings, alt)) for label, alt in alternatives]
        self.expected_keys = {key(v) for v in self.references[0][1]}
        self.fleet.create_topics()
        self._topics = True
        self.monitor = OutputMonitor(self.settings)
        self.monitor.start()
        for worker in WORKERS:
            if self.standby:
                self.fleet.start_pair(worker)
            else:
                self.fleet.start(worker)
        self.fleet.wait_ready()
        self.feed = Feed(self.settings, events, rate)
        self.feed.start()
        self.say(f"{len(events)} events at {rate:.0f}/s, {len(self.expected_keys)} regime events expected")

    def wait_fraction(self, fraction: float) -> None:
        assert self.feed is not None
        self.feed.wait_fraction(fraction)

    # -- faults --------------------------------------------------------------------

    def _fault(self, kind: str, target: str) -> Fault:
        assert self.feed is not None and self.monitor is not None
        fault = Fault(kind, target, time.monotonic(), watermark=dict(self.feed.high))
        fault.pending = {k[0] for k in self.expected_keys - self.monitor.keys()}
        fault.feed_left = self.feed.done_at is None
        self.faults.append(fault)
        return fault

    def _ended(self, fault: Fault) -> None:
        fault.ended = time.monotonic()
        self.say(f"{fault.kind} {fault.target}: done in {fault.ended - fault.started:.1f}s")

    def kill(self, name: str) -> None:
        fault = self._fault("SIGKILL", name)
        self.fleet.kill(name)
        self._ended(fault)

    def pause_then_kill(self, name: str, paused_s: float, steps: int = 1500) -> None:
        """SIGSTOP a worker inside a checkpoint, SIGKILL it, start the replacement over the
        dead predecessor's open transaction. The worker is stepped in slices of a few ms
        (SIGCONT, SIGSTOP, look) until its group shows transactional offsets pending (it
        stopped between send_offsets_to_transaction and the commit); after `steps` slices
        without that it stays stopped wherever it is (mid-batch: a transaction is open)."""
        fault = self._fault("SIGSTOP+SIGKILL", name)
        worker = self.fleet.procs[name].worker
        inputs = load_topology(self.settings.partitions).worker(worker).inputs
        parts = [
            TopicPartition(self.settings.topic(t), p) for t in inputs for p in range(self.settings.partitions)
        ]
        probe = Consumer(clients.consumer_config(self.settings, self.settings.group(worker)))
        pending = False
        try:
            self.fleet.send_signal(name, signal.SIGSTOP)
            for _ in range(steps):
                pending = offsets_pending(probe, parts)
                if pending:
                    break
                self.fleet.send_signal(name, signal.SIGCONT)
                time.sleep(random.uniform(0.001, 0.004))
                self.fleet.send_signal(name, signal.SIGSTOP)
        finally:
            probe.close()
        self.result.notes.append(
            f"{name} stopped " + ("with its offsets pending in the transaction" if pending else "mid-batch")
        )
        time.sleep(paused_s)
        self.fleet.kill(name)
        self._ended(fault)

    def restart(self, name: str, between: Callable[[], None] | None = None) -> None:
        """A rolling restart of one worker; `between` runs while it is down."""
        fault = self._fault("SIGTERM restart", name)
        code = self.fleet.restart(name, between=between)
        if code != 0:
            self.result.notes.append(f"{name} drained with exit {code} on SIGTERM")
        self._ended(fault)

    def scale(self, worker: str, count: int) -> None:
        """Run `count` instances of a worker: start `<worker>-<n>`, or retire the newest."""
        fault = self._fault(f"scale to {count}", worker)
        names = [n for n, p in self.fleet.procs.items() if p.worker == worker and not p.retired]
        added = [f"{worker}-{n}" for n in range(len(names) + 1, count + 1)]
        for name in added:
            self.fleet.start(worker, name, runtime__instance_id=f"chaos-{name}")
        for name in reversed(names[count:]):
            code = self.fleet.retire(name)
            if code != 0:
                self.result.notes.append(f"{name} drained with exit {code} on scale-down")
        if added:  # with more instances than partitions some stay unassigned: running is enough
            self.fleet.wait_ready(60, added, assigned=False)
        self._ended(fault)

    def broker_stop(self, down_s: float) -> None:
        fault = self._fault(f"broker stop {down_s:.0f}s", "broker")
        self.broker.stop_for(down_s)
        self.broker_restarts += 1
        self._ended(fault)

    def broker_kill(self, down_s: float) -> None:
        fault = self._fault(f"broker SIGKILL {down_s:.0f}s", "broker")
        self.broker.kill_for(down_s)
        self.broker_restarts += 1
        self._ended(fault)

    def produce_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        *,
        partition: int | None = None,
        poison: bool = False,
    ) -> None:
        """One record as any client could write it: no transaction, no validation."""
        if self._producer is None:  # up to 8 MB: the harness must write what a worker may not
            conf = {**clients.producer_config(self.settings, None), "message.max.bytes": 8_000_000}
            self._producer = Producer(conf)
        producer = self._producer
        kwargs: dict[str, Any] = {"headers": headers or []}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(self.settings.topic(topic), value, key, **kwargs)
        if producer.flush(15):
            raise HarnessError(f"could not produce to {topic}")
        if poison:
            self.poison.append((topic, key or b"", value, headers or []))

    # -- the verdict ---------------------------------------------------------------

    def finish(self) -> ScenarioResult:
        assert self.feed is not None and self.monitor is not None
        r = self.result
        outcome = self._await_outputs()
        if self.feed.error:
            r.notes.append(f"feed: {self.feed.error}")
        if outcome != "complete":
            r.stuck = self.fleet.diagnose()
            r.notes.append(f"wait ended: {outcome}")
        codes, stacks = self.fleet.stop_all()
        unclean = {n: c for n, c in codes.items() if c != 0}
        if unclean:
            r.notes.append(f"exit codes on the final SIGTERM (None: did not drain in 12 s): {unclean}")
        r.notes += [f"{name} stuck at: {where}" for name, where in stacks.items() if where]
        self.monitor.drain(quiet_s=1.0)
        published = self.monitor.snapshot()
        label, comparison = min(
            ((lbl, compare(ref, published)) for lbl, ref in self.references), key=lambda x: x[1].badness
        )
        if len(self.references) > 1:
            r.notes.append(f"reference that matched best: {label}")
        for name in ("expected", "published", "lost", "duplicated", "out_of_order", "mismatched", "extra"):
            setattr(r, name, getattr(comparison, name))
        if comparison.lost_by_symbol:
            r.notes.append(f"lost by symbol: {comparison.lost_by_symbol}")
        if comparison.split:
            r.notes.append(f"symbols published on more than one partition: {comparison.split}")
        if self.monitor.undecodable:
            r.notes.append(f"{self.monitor.undecodable} undecodable records on regime.events")
        r.kills = self.fleet.kills
        r.broker_restarts = self.broker_restarts
        r.unexpected_exits = len(self.fleet.exits)
        r.notes += [f"unexpected exit: {e}" for e in self.fleet.exits[:5]]
        self._recovery(published)
        r.provenance_ok, r.provenance = provenance_verify(self.fleet.env)
        self._dead_letters()
        r.judge()
        return r

    def _await_outputs(self) -> str:
        """complete | quiet (nothing more came once recovery had time) | deadline."""
        assert self.feed is not None and self.monitor is not None
        lim = self.limits
        while True:
            now = time.monotonic()
            if self.expected_keys <= self.monitor.keys():
                time.sleep(lim.settle_s)
                return "complete"
            done = self.feed.done_at
            if done is None:
                deadline = self.feed.started_at + 3 * self.feed.nominal_s + lim.max_wait_s
            else:
                deadline = done + lim.max_wait_s
                # After a fault, a stall may still be a recovery until the budget has passed.
                last_fault = max((f.ended + lim.recovery_budget_s for f in self.faults), default=done)
                silent = now - max(self.monitor.last_arrival, done)
                if now >= max(last_fault, done) and silent >= lim.quiet_s:
                    return f"quiet for {silent:.0f}s, {len(self.expected_keys - self.monitor.keys())} missing"
            if now > deadline:
                return f"deadline, {len(self.expected_keys - self.monitor.keys())} missing"
            time.sleep(1)

    def _recovery(self, published: list[Published]) -> None:
        """Per fault: from its end until every symbol with output to come publishes again."""
        r = self.result
        ordered = sorted(published, key=lambda p: p.arrival)
        last_expected: dict[str, int] = {}
        for symbol, ts, _type in self.expected_keys:
            last_expected[symbol] = max(ts, last_expected.get(symbol, ts))
        longest: float | None = None
        took_each = []
        for f in self.faults:
            took = recovery_of(f, ordered, last_expected)
            took_each.append(f"{f.kind} {f.target}: " + ("never" if took is None else f"{took:.1f}s"))
            if took is None:
                r.unrecovered += 1
            else:
                longest = max(longest or 0.0, took)
            bound = self.limits.max_broker_recovery_s if f.target == "broker" else self.limits.max_recovery_s
            r.recovery_ok = r.recovery_ok and took is not None and took <= bound
        if took_each:
            r.notes.append("recovery per fault: " + "; ".join(took_each))
        r.recovery_s = None if longest is None else round(longest, 1)
        if self.faults and ordered:
            gap = longest_gap(ordered, self.faults[0].started, ordered[-1].arrival)
            r.notes.append(f"longest gap in regime.events from the first fault to the last event: {gap:.1f}s")
            if self.judge_by_gap:  # faults back to back (a rollout): one outage, not one per fault
                r.recovery_s, r.unrecovered = round(gap, 1), 0
                r.recovery_ok = gap <= self.limits.max_recovery_s and all(f.ended for f in self.faults)

    def _dead_letters(self) -> None:
        r = self.result
        dead = [(t, rec) for t in ("market.raw.dlq", "fleet.dlq") for rec in raw_records(self.settings, t)]
        for topic, (_p, _o, _k, _v, headers) in dead:
            h = {k: v for k, v in headers}
            source = (h.get("source_topic") or b"?").decode("utf-8", "replace")
            code = (h.get("error_code") or b"?").decode("utf-8", "replace")
            label = f"{topic}<-{source}:{code}"
            r.dead_letters[label] = r.dead_letters.get(label, 0) + 1
        if not self.poison:
            return
        by_value = {rec[3]: rec for _t, rec in dead}
        found = faithful = 0
        for _topic, pkey, value, headers in self.poison:
            rec = by_value.get(value)
            if rec is None:
                continue
            found += 1
            if (rec[2] or b"") == pkey and all(h in rec[4] for h in headers):
                faithful += 1
        r.dlq_ok = found == faithful == len(self.poison)
        r.notes.append(
            f"poison records dead-lettered {found}/{len(self.poison)}, "
            f"with key and headers byte for byte {faithful}/{found}"
        )

    # -- clean-up ------------------------------------------------------------------

    def close(self) -> None:
        """Always: no process, thread or topic of this scenario outlives it."""
        if self.feed is not None:
            self.feed.stop()
            self.feed.join(70)
        self.fleet.kill_all()
        if self.monitor is not None and self.monitor.is_alive():
            self.monitor.drain(quiet_s=0, timeout_s=1)
        if self._topics:
            try:
                self.fleet.delete_topics()
            except Exception as exc:
                self.say(f"could not delete the topics: {exc}")
        shutil.rmtree(self.fleet.root / "state", ignore_errors=True)
