"""What the noisy-neighbour bench (o, harness/src/harness/bench/neighbours.py) measured, as
data: a 429's reason and Retry-After, latencies per phase, the admitted shares over the
contended span against the weights of the active clients, A/B ratios, and the report table.

Pure: the answers, the /status samples and the SSE events come in as arguments.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.api.client import SseStream


@dataclass(frozen=True)
class Neighbour:
    """One client of the bench: its settings in api.clients and the load it offers."""

    name: str
    weight: float
    events_per_s: float  # its quota (api.clients.<name>.events_per_s)
    rate: float  # what it offers, single events per second
    streams: int  # SSE streams it holds
    connections: int  # keep-alive connections it posts over


GOAL_RATIO = 1.10
GOAL_SHARE = 0.05


@dataclass(frozen=True)
class Answer:
    due: float  # perf_counter of the scheduled send
    latency_s: float
    status: int
    reason: str = ""  # of a 429: quota | share | backpressure
    retry_after_s: int = 0


@dataclass(frozen=True)
class Sample:
    """One reading of the api's /status: the ingest lag and every client's admitted count."""

    at: float  # perf_counter
    lag: int
    limit: int
    drain_rate: float
    admitted: dict[str, int]

    @classmethod
    def of(cls, status: Mapping[str, Any], at: float) -> Sample:
        lag, admission = status["ingest_lag"], status["admission"]
        return cls(
            at,
            int(lag["lag"]),
            int(lag["limit"]),
            float(admission["drain_rate"]),
            {name: int(c["admitted"]) for name, c in admission["clients"].items()},
        )


@dataclass
class Phase:
    name: str
    started: float  # perf_counter
    wall: float  # time.time() at the start (SSE produce times are wall ms)
    seconds: float
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    elapsed: float = 0.0  # until its last answer


def refusal(status: int, body: bytes) -> tuple[str, int]:
    """A 429's reason (quota | share | backpressure) and Retry-After; ("", 0) otherwise."""
    if status != 429:
        return "", 0
    found = json.loads(body)
    if found.get("error") == "BACKPRESSURE":
        reason = "backpressure"
    else:
        reason = "quota" if "over its quota" in found.get("message", "") else "share"
    return reason, int(found.get("retry_after_s", 0))


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def ratio(b: float | None, a: float | None) -> float | None:
    return b / a if a and b is not None else None


def admission_ms(answers: Iterable[Answer], start: float, end: float) -> list[float]:
    """Latencies (ms) of the admitted (202) requests scheduled in [start, end)."""
    return [a.latency_s * 1000 for a in answers if a.status == 202 and start <= a.due < end]


def delivery_ms(streams: Iterable[SseStream], start_ms: float, end_ms: float) -> list[float]:
    """Receipt minus produce time (ms) of the events produced in [start_ms, end_ms)."""
    out = []
    for stream in streams:
        for e in stream.events:
            published = json.loads(e.data)["published_at_ms"]
            if start_ms <= published < end_ms:
                out.append(e.received * 1000 - published)
    return out


def contended_from(samples: Sequence[Sample], share_from: float, since: float) -> float | None:
    """When the lag first reached `share_from` of its limit at or after `since` (None: never)."""
    for s in samples:
        if s.at >= since and s.limit > 0 and s.lag >= share_from * s.limit:
            return s.at
    return None


def admitted_shares(first: Sample, last: Sample) -> dict[str, float]:
    """Each client's share of what was admitted between two samples (active clients only)."""
    delta = {n: last.admitted[n] - first.admitted.get(n, 0) for n in last.admitted}
    total = sum(delta.values())
    return {n: d / total for n, d in delta.items() if d > 0}


def weight_shares(weights: Mapping[str, float], active: Iterable[str]) -> dict[str, float]:
    """Each active client's weight over the weights of the active clients."""
    names = list(active)
    total = sum(weights[n] for n in names)
    return {n: weights[n] / total for n in names}


def shares_under_contention(
    samples: Sequence[Sample], start: float, end: float, window_s: float, share_from: float
) -> tuple[dict[str, float], float | None, float]:
    """The admitted shares from one window after contention began (at or after `start`) to
    `end`; when it began; the part of the samples in that span that were contended."""
    onset = contended_from(samples, share_from, start)
    if onset is None:
        return {}, None, 0.0
    span = [s for s in samples if onset + window_s <= s.at <= end]
    if len(span) < 2:
        return {}, onset, 0.0
    held = sum(s.lag >= share_from * s.limit for s in span) / len(span)
    return admitted_shares(span[0], span[-1]), onset, held


def retry_afters(answers: Iterable[Answer]) -> Counter[int]:
    return Counter(a.retry_after_s for a in answers if a.status == 429)


def summarise(
    a: Phase,
    b: Phase,
    streams: Mapping[str, Sequence[SseStream]],
    samples: Sequence[Sample],
    *,
    well_behaved: Sequence[Neighbour],
    noisy: Neighbour,
    window_s: float,
    share_from: float,
    skip_s: float,
) -> dict[str, Any]:
    """The part's results, flat (`neighbours.<client>.<measure>`), as the runner reports them."""
    out: dict[str, Any] = {}

    def window(p: Phase) -> tuple[float, float, float, float]:
        wall = (p.wall + skip_s) * 1000, (p.wall + p.seconds) * 1000
        return p.started + skip_s, p.started + p.seconds, *wall

    wa, wb = window(a), window(b)
    shares, onset, held = shares_under_contention(
        samples, b.started, b.started + b.seconds, window_s, share_from
    )
    weights = {c.name: c.weight for c in (*well_behaved, noisy)}
    due = weight_shares(weights, shares) if shares else {}
    out["neighbours.contended_after_s"] = round(onset - b.started, 1) if onset is not None else None
    out["neighbours.contended_held"] = round(held, 2)
    pooled: dict[str, list[float]] = {"adm_a": [], "adm_b": [], "sse_a": [], "sse_b": []}
    for c in well_behaved:
        key = f"neighbours.{c.name}"
        adm = [admission_ms(p.answers.get(c.name, []), w[0], w[1]) for p, w in ((a, wa), (b, wb))]
        sse = [delivery_ms(streams.get(c.name, []), w[2], w[3]) for w in (wa, wb)]
        for name, values in zip(("adm_a", "adm_b", "sse_a", "sse_b"), (*adm, *sse), strict=True):
            pooled[name] += values
        out |= _compared(key, "admit", adm)
        out |= _compared(key, "sse", sse)
        out[f"{key}.throttled_b"] = sum(x.status == 429 for x in b.answers.get(c.name, []))
        out |= _share(key, shares.get(c.name), due.get(c.name))
    out |= _compared("neighbours.all", "admit", [pooled["adm_a"], pooled["adm_b"]])
    out |= _compared("neighbours.all", "sse", [pooled["sse_a"], pooled["sse_b"]])
    answers = b.answers.get(noisy.name, [])
    key = f"neighbours.{noisy.name}"
    out[f"{key}.offered_per_s"] = noisy.rate
    out[f"{key}.achieved_per_s"] = round(len(answers) / b.elapsed, 1) if b.elapsed else 0.0
    out[f"{key}.admitted"] = sum(x.status == 202 for x in answers)
    out[f"{key}.throttled"] = sum(x.status == 429 for x in answers)
    for reason, n in sorted(Counter(x.reason for x in answers if x.status == 429).items()):
        out[f"{key}.throttled_{reason}"] = n
    waits = retry_afters(answers)
    out[f"{key}.retry_after_s"] = ", ".join(f"{s} s x{n}" for s, n in sorted(waits.items())) or "-"
    out |= _share(key, shares.get(noisy.name), due.get(noisy.name))
    out["neighbours.drain_rate_b"] = samples[-1].drain_rate if samples else None
    out["neighbours.lag_end_b"] = samples[-1].lag if samples else None
    return out


def _compared(key: str, what: str, phases: Sequence[Sequence[float]]) -> dict[str, Any]:
    a, b = phases
    p99a, p99b = percentile(a, 99), percentile(b, 99)
    return {
        f"{key}.{what}_p50_a_ms": _round(percentile(a, 50)),
        f"{key}.{what}_p50_b_ms": _round(percentile(b, 50)),
        f"{key}.{what}_p99_a_ms": _round(p99a),
        f"{key}.{what}_p99_b_ms": _round(p99b),
        f"{key}.{what}_p99_ratio": _round(ratio(p99b, p99a), 2),
    }


def _share(key: str, share: float | None, due: float | None) -> dict[str, Any]:
    if share is None or not due:
        return {f"{key}.share_b": None}
    return {
        f"{key}.share_b": round(share, 4),
        f"{key}.weight_share": round(due, 4),
        f"{key}.share_dev_pct": round((share / due - 1) * 100, 1),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


def table(found: Mapping[str, Any], well_behaved: Sequence[Neighbour], noisy: Neighbour) -> str:
    """Per client: A (alone) against B (with the noisy neighbour), and each goal met or missed."""
    lines = [
        f"{'client':8} {'admit p99 A':>11} {'B':>7} {'B/A':>11} {'SSE p99 A':>10} {'B':>7} {'B/A':>11} "
        f"{'share B':>8} {'weight':>7} {'dev':>13}   ms; goals B/A <= {GOAL_RATIO}, |dev| <= {GOAL_SHARE:.0%}"
    ]
    for name in [*(c.name for c in well_behaved), "all", noisy.name]:
        got = {k.rsplit(".", 1)[1]: v for k, v in found.items() if k.startswith(f"neighbours.{name}.")}
        dev = got.get("share_dev_pct")
        cells = [
            f"{name:8}",
            _cell(got.get("admit_p99_a_ms"), 11),
            _cell(got.get("admit_p99_b_ms"), 7),
            _judged(got.get("admit_p99_ratio"), GOAL_RATIO, 11, "{:.2f}"),
            _cell(got.get("sse_p99_a_ms"), 10),
            _cell(got.get("sse_p99_b_ms"), 7),
            _judged(got.get("sse_p99_ratio"), GOAL_RATIO, 11, "{:.2f}"),
            _cell(got.get("share_b"), 8, "{:.1%}"),
            _cell(got.get("weight_share"), 7, "{:.1%}"),
            _judged(abs(dev) if dev is not None else None, GOAL_SHARE * 100, 13, f"{dev or 0:+.1f} %"),
        ]
        lines.append(" ".join(cells))
    n = f"neighbours.{noisy.name}."
    lines.append(
        f"{noisy.name}: offered {found.get(n + 'offered_per_s')}/s, achieved {found.get(n + 'achieved_per_s')}/s, "
        f"admitted {found.get(n + 'admitted')}, 429 {found.get(n + 'throttled')} (Retry-After "
        f"{found.get(n + 'retry_after_s')}); contention from {found.get('neighbours.contended_after_s')} s "
        f"into B, held in {_cell(found.get('neighbours.contended_held'), 0, '{:.0%}')} of the samples after"
    )
    return "\n".join(lines)


def _cell(value: Any, width: int, fmt: str = "{:.1f}") -> str:
    return f"{'-' if value is None else fmt.format(value):>{width}}"


def _judged(value: float | None, goal: float, width: int, fmt: str) -> str:
    """The value, and whether it is within its goal."""
    if value is None:
        return _cell(None, width)
    return f"{fmt.format(value) + (' ok' if value <= goal else ' MISSED'):>{width}}"
