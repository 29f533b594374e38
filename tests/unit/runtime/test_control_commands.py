"""The control plane's pure core: commands checked against the topology, the fold of the
command history, which partitions a pause holds per worker, and the halt gate."""

from __future__ import annotations

import pytest

from workers.processing import Output
from workers.runtime.commands import (
    ControlError,
    ControlState,
    Target,
    command,
    decode,
    halt_at,
    halted,
    state_at,
    symbol_partition,
)
from workers.topics import ENRICHED

WORKERS = ("ingest", "scheduler", "engine", "publisher", "enricher", "labeler")


def cmd(action: str, target: Target, now_ms: int = 1000, mode: str | None = None) -> list:
    return command(action, target, workers=WORKERS, partitions=3, now_ms=now_ms, mode=mode)


def test_symbol_partition_is_kafkas_murmur2():
    # Values of Kafka's Java DefaultPartitioner (Utils.toPositive(murmur2(key)) % n).
    from harness.chaos.fleet import kafka_partition

    for symbol in ("AAA", "BBB", "CCC", "DDD", "BTC-USD", "x", "ab", "abcdefg"):
        for n in (1, 3, 12):
            assert symbol_partition(symbol, n) == kafka_partition(symbol.encode(), n)
    assert {symbol_partition(s, 3) for s in ("AAA", "BBB", "CCC", "DDD")} != {0}


def test_bad_commands_are_refused_with_a_code():
    cases = [
        (("pause", Target(worker="nope")), "UNKNOWN_WORKER"),
        (("pause", Target(partition=3)), "UNKNOWN_PARTITION"),
        (("pause", Target(partition=-1)), "UNKNOWN_PARTITION"),
        (("pause", Target(partition=1, symbol="AAA")), "BAD_TARGET"),
        (("halt", Target(worker="enricher")), "BAD_TARGET"),
        (("halt", Target(partition=0)), "BAD_TARGET"),
        (("stop", Target()), "UNKNOWN_ACTION"),
        (("pause", Target(symbol=" ")), "BAD_TARGET"),
    ]
    for (action, target), code in cases:
        with pytest.raises(ControlError) as info:
            cmd(action, target)
        assert info.value.code == code, (action, target)


def test_a_command_round_trips_through_its_record():
    (pause,) = cmd("pause", Target(worker="enricher", symbol="AAA"))
    assert decode(pause.encode()) == pause
    with pytest.raises(ControlError):
        decode(b'{"action": "pause"}')


def test_a_resume_ends_both_modes_of_its_target_only():
    state = ControlState()
    for c in (
        cmd("pause", Target(symbol="AAA"))
        + cmd("halt", Target(symbol="AAA"))
        + cmd("halt", Target(symbol="BBB"))
    ):
        state.apply(c)
    assert state.halting() and state.halt_of("AAA") is not None
    for c in cmd("resume", Target(symbol="AAA")):
        state.apply(c)
    assert state.halt_of("AAA") is None and state.halt_of("BBB") is not None
    assert state.paused_partitions("enricher", 3) == {}
    assert [c.target.symbol for c in state.active()] == ["BBB"]


def test_resume_of_one_mode_leaves_the_other():
    state = ControlState()
    for c in (
        cmd("pause", Target(symbol="AAA"))
        + cmd("halt", Target(symbol="AAA"))
        + cmd("resume", Target(symbol="AAA"), mode="pause")
    ):
        state.apply(c)
    assert state.halt_of("AAA") is not None and state.paused_partitions("ingest", 3) == {}


def test_paused_partitions_per_worker():
    state = ControlState()
    for c in (
        cmd("pause", Target(worker="engine"))
        + cmd("pause", Target(worker="enricher", partition=1))
        + cmd("pause", Target(symbol="AAA"))
    ):
        state.apply(c)
    aaa = symbol_partition("AAA", 3)
    assert set(state.paused_partitions("engine", 3)) == {0, 1, 2}
    assert set(state.paused_partitions("enricher", 3)) == {1, aaa}
    assert set(state.paused_partitions("ingest", 3)) == {aaa}
    assert state.paused_partitions("ingest", 3)[aaa].target.symbol == "AAA"  # says which command


def test_a_halt_of_everything_covers_every_symbol_until_resumed():
    state = ControlState()
    for c in cmd("halt", Target()):
        state.apply(c)
    assert state.halt_of("ZZZ") is not None
    for c in cmd("resume", Target(symbol="ZZZ")):
        state.apply(c)
    assert state.halt_of("ZZZ") is not None  # ended only by resuming everything
    for c in cmd("resume", Target()):
        state.apply(c)
    assert state.halt_of("ZZZ") is None and not state.halting()


def test_the_history_as_of_a_time_is_what_replays_use():
    history = cmd("halt", Target(symbol="AAA"), now_ms=100) + cmd("resume", Target(symbol="AAA"), now_ms=200)
    assert halt_at(history, 99, "AAA") is None
    assert halt_at(history, 100, "AAA") is not None
    assert halt_at(history, 199, "AAA") is not None
    assert halt_at(history, 200, "AAA") is None
    assert state_at(history, 150).halting()


def test_halted_signals_carry_weight_zero_and_the_flag():
    value = {"signal": {"symbol": "AAA"}, "regime_weight": 0.8}
    (halt,) = cmd("halt", Target(symbol="AAA"))
    assert halted(value, halt) == {"signal": {"symbol": "AAA"}, "regime_weight": 0.0, "halted": True}
    assert halted(value, None) == {**value, "halted": False}
    assert value == {"signal": {"symbol": "AAA"}, "regime_weight": 0.8}  # not changed in place


def test_the_runtime_gate_halts_enriched_signals_only():
    from workers.config import load_settings
    from workers.runtime.context import RuntimeContext
    from workers.runtime.control import ControlReader
    from workers.topology import load_topology

    settings = load_settings()
    reader = ControlReader(RuntimeContext.build("enricher", settings, load_topology(settings.partitions)))
    signal = Output(ENRICHED, "AAA", {"signal": {"symbol": "AAA"}, "regime_weight": 0.8})
    other = Output(ENRICHED, "BBB", {"signal": {"symbol": "BBB"}, "regime_weight": 0.8})
    dlq = Output("fleet.dlq", "AAA", b"raw")
    assert reader.gate([signal, other, dlq]) == [signal, other, dlq]  # no halt: passed as they are
    for c in cmd("halt", Target(symbol="AAA")):
        reader.state.apply(c)
    gated = reader.gate([signal, other, dlq])
    assert gated[0].value["regime_weight"] == 0.0 and gated[0].value["halted"] is True
    assert gated[1].value["regime_weight"] == 0.8 and gated[1].value["halted"] is False
    assert gated[2] is dlq and gated[0].partition == signal.partition
