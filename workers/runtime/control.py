"""The runtime's side of the control plane: read fleet.control (bounded, between batches), pause
and resume the partitions the active commands name, and gate enriched signals under a halt.

A paused partition stops being fetched: its records wait in Kafka, the group's offset stays at
the first record not processed, and a resume continues from there (nothing dropped, nothing
processed twice). The reader's own consumer has no group: every instance reads every command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from workers import clients
from workers.config import FleetSettings
from workers.processing import Output
from workers.runtime.commands import Command, ControlError, ControlState, decode, halted
from workers.runtime.context import RuntimeContext
from workers.runtime.pauses import PauseControl
from workers.topics import CONTROL, ENRICHED

READ_LIMIT = 500  # commands read per tick at most: the loop never waits on the control topic
APPLIED_KEPT = 256  # acknowledgements a heartbeat carries (the latest commands)


def _metric(kind: Any, name: str, doc: str, labels: list[str], registry: CollectorRegistry) -> Any:
    """The registry's metric of that name, made once (several workers may share a registry)."""
    found = registry._names_to_collectors.get(name)  # no public lookup in prometheus_client
    return found if found is not None else kind(name, doc, labels, registry=registry)


class ControlReader:
    """Polled by the worker's loop before each fetch; never blocks it (consume with timeout 0)."""

    def __init__(self, ctx: RuntimeContext, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.clock = clock
        self.state = ControlState()
        self.paused: dict[int, Command] = {}  # partitions this worker holds paused by command
        self.applied: dict[str, int] = {}  # command_id -> wall ms it took effect here
        self.changed = False  # since the heartbeat last reported
        self._consumer: Consumer | None = None
        self._error = ""
        # Nothing pauses this worker and all is reported: a tick without new commands has
        # nothing to do (the usual case; the full tick asks for the assignment, a round trip
        # to librdkafka's thread, and rebuilds /status's control block).
        self._quiet = False
        self._reported_error = ""
        r = ctx.metrics.registry
        self.paused_gauge = _metric(
            Gauge,
            "regime_fleet_control_paused_partitions",
            "Partitions paused by an operator command.",
            ["worker"],
            r,
        )
        self.halts_gauge = _metric(
            Gauge,
            "regime_fleet_control_halts",
            "Active halt commands (kill switch) known here.",
            ["worker"],
            r,
        )
        self.commands_total = _metric(
            Counter, "regime_fleet_control_commands", "Control commands applied.", ["worker", "action"], r
        )
        self.halted_total = _metric(
            Counter,
            "regime_fleet_halted_signals",
            "Enriched signals emitted halted (weight 0).",
            ["worker"],
            r,
        )

    # -- reading -------------------------------------------------------------------------

    def _open(self) -> Consumer:
        """The reader, assigned from the beginning of every partition the topology declares;
        no metadata call (it could block the loop): a missing topic shows up as a read error."""
        if self._consumer is None:
            settings = self.ctx.settings
            name = settings.topic(CONTROL)
            spec = self.ctx.topology.topics.get(CONTROL)
            # A long poll: the broker answers a fetch as soon as a command is appended, and an
            # idle fleet's readers then ask 2 times a second instead of 100 (the broker's CPU
            # with the fleet idle: 0.145 cores with 10 ms, 0.09 with 500 ms).
            consumer = Consumer(clients.reader_config(settings, **{"fetch.wait.max.ms": 500}))
            consumer.assign(
                [TopicPartition(name, p, OFFSET_BEGINNING) for p in range(spec.partitions if spec else 1)]
            )
            self._consumer = consumer
        return self._consumer

    def _fail(self, error: str) -> None:
        if error != self._error:
            self.ctx.log.warning("control_unavailable", topic=self.ctx.settings.topic(CONTROL), error=error)
        self._error = error

    def read(self) -> list[Command]:
        """The commands that arrived since the last read (at most READ_LIMIT)."""
        try:
            msgs = self._open().consume(READ_LIMIT, 0)
        except KafkaException as exc:
            self._fail(str(exc))
            return []
        out = []
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._fail(str(err))
                continue
            try:
                cmd = decode(msg.value() or b"")
            except ControlError as exc:
                self.ctx.log.warning("control_undecodable", offset=msg.offset(), error=exc.message)
                continue
            self.state.apply(cmd, msg.offset())
            out.append(cmd)
            self._error = ""
        return out

    # -- applying ------------------------------------------------------------------------

    def tick(self, consumer: Consumer, pauses: PauseControl) -> None:
        """Right before each fetch: fold new commands in and (re-)pause what they name. Pausing
        again every tick keeps a partition paused across re-opens and backpressure resumes."""
        new = self.read()
        if not new and self._quiet and self._error == self._reported_error:
            return
        assigned = consumer.assignment()
        if not assigned and not new:
            return
        name = self.ctx.name
        wanted = self.state.paused_partitions(name, self.ctx.settings.partitions)
        self._quiet, self._reported_error = not wanted, self._error
        mine = {tp.partition for tp in assigned}
        hold = {p: c for p, c in wanted.items() if p in mine}
        pause = [tp for tp in assigned if tp.partition in hold]
        if pause:
            consumer.pause(pause)
        released = set(self.paused) - set(hold)
        busy = pauses.held() | (set(mine) if pauses.gauge is not None and pauses.gauge.paused else set())
        resume = [tp for tp in assigned if tp.partition in released and tp.partition not in busy]
        if resume:
            consumer.resume(resume)
        now_ms = int(self.clock() * 1000)
        for cmd in new:
            if cmd.target.covers(name):
                self.applied[cmd.command_id] = now_ms
                while len(self.applied) > APPLIED_KEPT:  # the heartbeat reports the latest only
                    del self.applied[next(iter(self.applied))]
                self.commands_total.labels(name, cmd.action).inc()
                self.changed = True
                self.ctx.log.info(
                    "control_applied",
                    command_id=cmd.command_id,
                    action=cmd.action,
                    mode=cmd.mode,
                    target=cmd.target.key,
                    correlation_id=cmd.correlation_id,
                    paused_partitions=sorted(hold),
                )
        if set(hold) != set(self.paused):
            self.changed = True
        self.paused = hold
        self._report(name)

    def _report(self, name: str) -> None:
        readiness = self.ctx.readiness
        if self.paused:
            readiness.block(
                "control",
                "paused by operator: "
                + "; ".join(
                    f"partition {p} ({c.target.key}, {c.command_id})" for p, c in sorted(self.paused.items())
                ),
            )
        else:
            readiness.unblock("control")
        halts = [c for c in self.state.active() if c.mode == "halt"]
        self.paused_gauge.labels(name).set(len(self.paused))
        self.halts_gauge.labels(name).set(len(halts))
        self.ctx.status.control = self.as_dict()

    def gate(self, outputs: list[Output]) -> list[Output]:
        """The kill switch on the enricher's outputs: weight 0 and `halted` while a halt covers
        the signal's symbol (the core stays untouched: this is the runtime's hook). Without any
        halt the outputs pass as they are (`halted` is written as its schema default, false)."""
        if not self.state.halting():
            return outputs
        out = []
        for o in outputs:
            if o.topic == ENRICHED and isinstance(o.value, dict):
                halt = self.state.halt_of(str(o.value.get("signal", {}).get("symbol", "")))
                if halt is not None:
                    self.halted_total.labels(self.ctx.name).inc()
                o = Output(o.topic, o.key, halted(o.value, halt), o.headers, o.partition)
            out.append(o)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "paused_partitions": {str(p): c.as_dict() for p, c in sorted(self.paused.items())},
            "active": [c.as_dict() for c in self.state.active()],
            "read_offset": self.state.offset,
            "error": self._error,
        }

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def read_log(settings: FleetSettings, topic: str, timeout_s: float = 10.0) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record with both, in offset order, of a small JSON topic (control,
    heartbeats), read whole and bounded; [] when the topic does not exist."""
    name = settings.topic(topic)
    consumer = Consumer(clients.reader_config(settings))
    found: list[tuple[bytes, bytes]] = []
    try:
        meta = consumer.list_topics(name, timeout=min(5.0, timeout_s)).topics.get(name)
        if meta is None or meta.error is not None:
            return []
        deadline = time.monotonic() + timeout_s
        for p in sorted(meta.partitions):
            low, high = clients.watermarks(consumer, name, p, min(5.0, timeout_s))
            if high <= low:
                continue
            consumer.assign([TopicPartition(name, p, low)])
            while consumer.position([TopicPartition(name, p)])[0].offset < high:
                if time.monotonic() > deadline:
                    raise KafkaException(f"reading {name}[{p}] took longer than {timeout_s} s")
                for msg in consumer.consume(500, 0.2):
                    if msg.error() is None and msg.key() and msg.value():
                        found.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return found


def read_commands(settings: FleetSettings, timeout_s: float = 10.0) -> list[Command]:
    """The recorded command history, oldest first (undecodable records are left out)."""
    out = []
    for _key, value in read_log(settings, CONTROL, timeout_s):
        try:
            out.append(decode(value))
        except ControlError:
            continue
    return out


class Recorder:
    """Records commands on fleet.control (keyed by command id, so the history stays) through
    one long-lived producer: a new producer's start costs ~0.5 s, more than the goal for a
    command to take effect."""

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self._producer: Producer | None = None

    def record(self, commands: list[Command], timeout_s: float = 10.0) -> None:
        """Wait for the broker's ack; KafkaException when not all are delivered in `timeout_s`."""
        if self._producer is None:
            self._producer = Producer({**clients.producer_config(self.settings, None), "linger.ms": 0})
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        topic = self.settings.topic(CONTROL)
        for cmd in commands:
            key = f"{cmd.key}@{cmd.command_id}".encode()
            self._producer.produce(topic, cmd.encode(), key, partition=0, on_delivery=delivered)
        if self._producer.flush(timeout_s) or errors:
            raise KafkaException(f"control commands not recorded on {topic}: {errors or 'timed out'}")


def publish(settings: FleetSettings, commands: list[Command], timeout_s: float = 10.0) -> None:
    """Record commands once (a producer of its own: for tests and one-off tools)."""
    Recorder(settings).record(commands, timeout_s)
