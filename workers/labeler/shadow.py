"""Joining a challenger's shadow scores (signals.shadow) with the outcomes of the signals they
scored, and each model version's live scores as ModelMetrics records (models.metrics).

A ShadowScore and its EnrichedSignalEvent are written in one transaction but read from two
topics, so either may come first, and the signal may even be resolved before its shadow score
is read (its later market data was there already). So, in the `monitor` store:
  shadow/<symbol>     shadow scores whose signal is not resolved yet (oldest first, bounded)
  resolved/<symbol>   the last RESOLVED_KEPT resolved signals' labels, kept once the partition
                      has seen a challenger ("shadowing"), for shadow scores read after them
  pairs/<challenger>  the rolling window of [label, champion score, challenger score, resolved
                      ts, signal id] over the outcomes both scored, for one champion (a new
                      champion starts it afresh)
The score carries the champion's published confidence, so a pair needs only the label.

Every window (these and the champion's) is kept in the order of its outcomes' event time,
then signal id, not in the order they happened to be resolved here: which of two topics was
read first changes nothing, so a labeler restarted after a crash, or a replay
(workers/replay/metrics.py), ends with the very same window and the same bits of every score.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from workers.meta_model import live
from workers.processing import StateStore

SHADOWING = "shadowing"
RESOLVED_KEPT = 256
PENDING_KEPT = 4096


def remember(store: StateStore, symbol: str, signal_id: str, label: int, ts_ms: int) -> None:
    """A resolved signal's label and resolution time, for a shadow score read after it (only
    once shadowing)."""
    if store.get(SHADOWING):
        kept = (store.get(f"resolved/{symbol}") or {}).get("kept", [])
        store.put(f"resolved/{symbol}", {"kept": [*kept, [signal_id, label, ts_ms]][-RESOLVED_KEPT:]})


def arrived(store: StateStore, score: Mapping[str, Any]) -> tuple[int, int] | None:
    """(label, resolved_ts_ms) of the score's signal when it is resolved already; else the
    score waits for it."""
    start(store)
    symbol = score["symbol"]
    for signal_id, label, ts_ms in reversed((store.get(f"resolved/{symbol}") or {}).get("kept", [])):
        if signal_id == score["signal_id"]:
            return int(label), int(ts_ms)
    waiting = (store.get(f"shadow/{symbol}") or {}).get("waiting", [])
    store.put(f"shadow/{symbol}", {"waiting": [*waiting, dict(score)][-PENDING_KEPT:]})
    return None


def start(store: StateStore) -> None:
    """From now on the partition remembers resolved signals (a challenger is about)."""
    if not store.get(SHADOWING):
        store.put(SHADOWING, {"on": True})


def waiting_for(store: StateStore, symbol: str, signal_id: str) -> list[dict[str, Any]]:
    """The shadow scores that waited for this signal's outcome (taken out of the store)."""
    waiting = (store.get(f"shadow/{symbol}") or {}).get("waiting", [])
    mine = [s for s in waiting if s["signal_id"] == signal_id]
    if mine:
        store.put(f"shadow/{symbol}", {"waiting": [s for s in waiting if s["signal_id"] != signal_id]})
    return mine


def placed(window: list[list[Any]], entry: list[Any], size: int) -> list[list[Any]]:
    """The window with `entry` in its place by (resolved ts, signal id), its last `size` kept:
    the same window whatever order the outcomes came in (entries from before the order was
    kept, without the two, sort first)."""
    keys = [_order(w) for w in window]
    at = bisect.bisect_right(keys, _order(entry))
    return [*window[:at], entry, *window[at:]][-size:]


def _order(entry: list[Any]) -> tuple[int, str]:
    return (int(entry[3]), str(entry[4])) if len(entry) > 4 else (-1, "")


def paired(
    store: StateStore, score: Mapping[str, Any], label: int, resolved_ts_ms: int, window: int
) -> dict[str, Any]:
    """The challenger's paired window with this outcome in it (a new champion starts afresh)."""
    key = f"pairs/{score['model_version']}"
    state = store.get(key) or {}
    if state.get("champion") != score["champion_version"]:
        state = {"champion": score["champion_version"], "window": [], "outcomes": 0}
    pair = [label, score["champion_confidence"], score["meta_confidence"], resolved_ts_ms, score["signal_id"]]
    state = {
        **state,
        "window": placed(state["window"], pair, window),
        "outcomes": state["outcomes"] + 1,
        "latest_ts": max(int(state.get("latest_ts", 0)), resolved_ts_ms),
    }
    store.put(key, state)
    return state


def champion_metrics(
    version: str, partition: int, outcomes: int, window: list[list[Any]], bins: int, ts_ms: int
) -> dict[str, Any]:
    """A ModelMetrics record of a version that scored the published confidence, over its
    (label, predicted, confidence) window."""
    labels = [int(w[0]) for w in window if len(w) > 2]
    scores = live.scores(labels, [float(w[2]) for w in window if len(w) > 2], bins)
    return _record(version, "champion", partition, outcomes, scores, ts_ms)


def challenger_metrics(version: str, partition: int, state: Mapping[str, Any], bins: int) -> dict[str, Any]:
    """A ModelMetrics record of a challenger over its paired window, with the paired gain."""
    labels = [int(w[0]) for w in state["window"]]
    champion = [float(w[1]) for w in state["window"]]
    challenger = [float(w[2]) for w in state["window"]]
    gain = live.paired(labels, champion, challenger)
    record = _record(
        version,
        "challenger",
        partition,
        state["outcomes"],
        live.scores(labels, challenger, bins),
        int(state["latest_ts"]),
    )
    return {
        **record,
        "champion_version": state["champion"],
        "paired": gain.n,
        "champion_brier": gain.champion_brier,
        "brier_gain_sum": gain.gain_sum,
        "brier_gain_sumsq": gain.gain_sumsq,
    }


def _record(
    version: str, role: str, partition: int, outcomes: int, scores: live.LiveScores, ts_ms: int
) -> dict[str, Any]:
    return {
        "model_version": version,
        "role": role,
        "partition": partition,
        "outcomes": outcomes,
        "window": scores.window,
        "auc": scores.auc,
        "brier": scores.brier,
        "ece": scores.ece,
        "accuracy": scores.accuracy,
        "base_rate": scores.base_rate,
        "brier_skill": scores.brier_skill,
        "resolved_ts_ms": ts_ms,
        "champion_version": "",
        "paired": 0,
        "champion_brier": 0.0,
        "brier_gain_sum": 0.0,
        "brier_gain_sumsq": 0.0,
    }
