"""Operator commands (pause, halt, resume) and what the active ones mean for one worker: a
pure core shared by the runtime's control reader, the api and the replay (docs/api.md).

A command is a record of the compacted `fleet.control` topic keyed by its command id, so the
topic keeps the whole history (replays read it); the state is the fold by `<mode>/<target>`:
the latest command of a target wins, a resume ends the pause or halt before it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workers.clients import murmur2_partition

MODES = ("pause", "halt")
ACTIONS = ("pause", "halt", "resume")
ALL = "*"


class ControlError(ValueError):
    """A command that cannot be carried out as given: `code` says which rule it breaks."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Target:
    """What a command applies to: a worker (or every worker), one partition, one symbol."""

    worker: str = ALL
    partition: int | None = None
    symbol: str | None = None

    @property
    def key(self) -> str:
        where = (
            f"symbol={self.symbol}"
            if self.symbol is not None
            else f"partition={self.partition}"
            if self.partition is not None
            else "all"
        )
        return f"{self.worker}:{where}"

    def covers(self, worker: str) -> bool:
        return self.worker in (ALL, worker)


@dataclass(frozen=True)
class Command:
    """One operator command as recorded on fleet.control (JSON)."""

    action: str
    mode: str
    target: Target
    command_id: str
    issued_at_ms: int
    correlation_id: str = ""
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.mode}/{self.target.key}"

    @property
    def active(self) -> bool:
        return self.action != "resume"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key, "active": self.active}

    def encode(self) -> bytes:
        body = asdict(self)
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode(raw: bytes) -> Command:
    """A fleet.control record's value; ControlError when it is not a command."""
    try:
        body = json.loads(raw)
        return Command(
            action=str(body["action"]),
            mode=str(body["mode"]),
            target=Target(**body["target"]),
            command_id=str(body["command_id"]),
            issued_at_ms=int(body["issued_at_ms"]),
            correlation_id=str(body.get("correlation_id", "")),
            reason=str(body.get("reason", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ControlError("UNDECODABLE_COMMAND", f"not a control command: {exc}") from None


def command(
    action: str,
    target: Target,
    *,
    workers: Iterable[str],
    partitions: int,
    now_ms: int,
    correlation_id: str = "",
    reason: str = "",
    mode: str | None = None,
) -> list[Command]:
    """The records one operator request writes, checked against the topology: a resume writes
    both modes' records (it ends a pause and a halt of the target); ControlError when bad."""
    if action not in ACTIONS:
        raise ControlError("UNKNOWN_ACTION", f"action {action!r}: use one of {', '.join(ACTIONS)}")
    known = sorted(workers)
    if target.worker != ALL and target.worker not in known:
        raise ControlError(
            "UNKNOWN_WORKER", f"no worker {target.worker!r} in the topology: {', '.join(known)}"
        )
    if target.partition is not None and target.symbol is not None:
        raise ControlError("BAD_TARGET", "name a partition or a symbol, not both")
    if target.partition is not None and not 0 <= target.partition < partitions:
        raise ControlError(
            "UNKNOWN_PARTITION",
            f"partition {target.partition}: the fleet has {partitions} (0-{partitions - 1})",
        )
    if target.symbol is not None and not target.symbol.strip():
        raise ControlError("BAD_TARGET", "an empty symbol")
    if action == "halt" and (target.partition is not None or target.worker != ALL):
        raise ControlError(
            "BAD_TARGET", "halt applies to a symbol or to everything, not to a worker or partition"
        )
    modes = [action] if action != "resume" else ([mode] if mode else list(MODES))
    if mode is not None and mode not in MODES:
        raise ControlError("UNKNOWN_MODE", f"mode {mode!r}: use pause or halt")
    command_id = f"cmd-{uuid.uuid4().hex[:16]}"
    return [Command(action, m, target, command_id, now_ms, correlation_id, reason) for m in modes]


@dataclass
class ControlState:
    """The latest command of each key (a fold of fleet.control), with where it was read."""

    commands: dict[str, Command] = field(default_factory=dict)
    offset: int = -1
    halts: int = 0  # active halt commands

    def apply(self, cmd: Command, offset: int = -1) -> bool:
        """Fold one command in; True when it changes what is active."""
        before = self.commands.get(cmd.key)
        self.commands[cmd.key] = cmd
        self.offset = max(self.offset, offset)
        self.halts = sum(c.active and c.mode == "halt" for c in self.commands.values())
        return before is None or before.active != cmd.active or before.target != cmd.target

    def active(self) -> list[Command]:
        return sorted((c for c in self.commands.values() if c.active), key=lambda c: c.key)

    def paused_partitions(self, worker: str, partitions: int) -> dict[int, Command]:
        """Partition -> the command that pauses it for `worker`. A paused symbol pauses the
        partition that holds it (one symbol lives in one partition on every keyed topic)."""
        out: dict[int, Command] = {}
        for cmd in self.active():
            if cmd.mode != "pause" or not cmd.target.covers(worker):
                continue
            t = cmd.target
            if t.symbol is not None:
                out.setdefault(symbol_partition(t.symbol, partitions), cmd)
            elif t.partition is not None:
                out.setdefault(t.partition, cmd)
            else:
                for p in range(partitions):
                    out.setdefault(p, cmd)
        return out

    def halting(self) -> bool:
        """Whether any halt is active (cheap: asked for every enriched signal)."""
        return self.halts > 0

    def halt_of(self, symbol: str) -> Command | None:
        """The halt covering `symbol` (its own, else a halt of everything), if any."""
        own = self.commands.get(f"halt/{Target(symbol=symbol).key}")
        if own is not None and own.active:
            return own
        every = self.commands.get(f"halt/{Target().key}")
        return every if every is not None and every.active else None


def state_at(history: Iterable[Command], when_ms: int) -> ControlState:
    """The state folded from the commands of `history` issued at or before `when_ms`."""
    state = ControlState()
    for cmd in history:
        if cmd.issued_at_ms <= when_ms:
            state.apply(cmd)
    return state


def halt_at(history: Iterable[Command], when_ms: int, symbol: str) -> Command | None:
    """The halt covering `symbol` at wall time `when_ms`, from the recorded history (replays)."""
    return state_at(history, when_ms).halt_of(symbol)


def halted(value: Mapping[str, Any], halt: Command | None) -> dict[str, Any]:
    """An EnrichedSignalEvent under the kill switch: regime weight 0 and `halted` while a halt
    covers its symbol; otherwise unchanged but for an explicit `halted: false`."""
    if halt is None:
        return {**value, "halted": False}
    return {**value, "regime_weight": 0.0, "halted": True}


def symbol_partition(symbol: str, partitions: int) -> int:
    """The partition a symbol key lands on with the fleet's partitioner (murmur2_random)."""
    return murmur2_partition(symbol.encode(), partitions)
