"""The console's views of what the api already holds (pure: tables and histories in, rows out):
one row per symbol for the regime board, one symbol's decisions and signals over time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .history import SymbolHistory, Version, VersionedTable
from .table import Decision


def regime_of(event: Mapping[str, Any]) -> str | None:
    """The regime a decision put in effect: the hysteresis decision's, else the engine's output."""
    decision = event.get("hysteresis_decision")
    if decision:
        return str(decision["current_regime"])
    output = event.get("regime_output") or {}
    regime = output.get("regime")
    return None if regime is None else str(regime)


def _point(v: Version) -> dict[str, Any]:
    output = v.value.get("regime_output") or {}
    return {
        "t": v.valid_from_ms,
        "regime": regime_of(v.value),
        "confidence": output.get("confidence"),
        "event_type": v.value.get("event_type"),
    }


def decisions(versions: Iterable[Version]) -> list[dict[str, Any]]:
    """One point per engine time (a hysteresis decision replaces its run's Completed event)."""
    out: list[dict[str, Any]] = []
    for v in versions:
        point = _point(v)
        if out and out[-1]["t"] == point["t"]:
            out[-1] = point
        else:
            out.append(point)
    return out


def since(points: list[dict[str, Any]]) -> int | None:
    """Engine time of the first decision of the current regime's run (among those kept)."""
    if not points:
        return None
    current, first = points[-1]["regime"], points[-1]["t"]
    for p in reversed(points):
        if p["regime"] != current:
            break
        first = p["t"]
    return int(first)


def board_row(symbol: str, history: SymbolHistory, recent: int) -> dict[str, Any] | None:
    """A symbol's row: its latest decision, since when its regime holds, its last decisions."""
    if not len(history):
        return None
    latest = history.tail(1)[0]
    points = decisions(history.tail(max(recent, 1) * 2 + 64))
    view = Decision(symbol, latest.value, latest.partition, latest.offset).as_dict()
    return {
        "symbol": symbol,
        "regime": view["regime"],
        "confidence": view["confidence"],
        "engine_timestamp_ms": view["engine_timestamp_ms"],
        "event_type": view["event_type"],
        "run_id": view["run_id"],
        "partition": latest.partition,
        "offset": latest.offset,
        "published_ms": latest.published_ms,
        "since_ms": since(points),
        "recent": points[-recent:] if recent else [],
    }


def board(table: VersionedTable, recent: int = 12) -> list[dict[str, Any]]:
    """Every symbol with a decision, by symbol."""
    rows = (board_row(s, h, recent) for s, h in sorted(table.histories.items()))
    return [r for r in rows if r is not None]


def signal_point(v: Version) -> dict[str, Any]:
    e = v.value
    s = e["signal"]
    return {
        "t": v.valid_from_ms,
        "signal_id": s["signal_id"],
        "direction": s["direction"],
        "price": s["price"],
        "meta_confidence": e["meta_confidence"],
        "toxicity": e["toxicity"],
        "regime": e["regime"],
        "regime_weight": e["regime_weight"],
        "model_version": e["model_version"],
        "halted": e.get("halted", False),
    }


def timeline(regimes: VersionedTable, signals: VersionedTable, symbol: str, limit: int) -> dict[str, Any]:
    """A symbol's last `limit` decisions and enriched signals, oldest first."""
    rh, sh = regimes.histories.get(symbol), signals.histories.get(symbol)
    return {
        "symbol": symbol,
        "decisions": decisions(rh.tail(limit)) if rh is not None else [],
        "signals": [signal_point(v) for v in sh.tail(limit)] if sh is not None else [],
    }
