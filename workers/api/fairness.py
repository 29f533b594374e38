"""Weighted fair admission between the api's clients (docs/api.md, fair admission).

Each client (a token, `api.clients`) has a weight and quotas. Three rules, in order:
  1. its own quota: `events_per_s` (a token bucket holding one second of it);
  2. under contention (the ingest lag at `api.fair_share_from` of its limit or more), a client
     admitted more than its weighted share of the measured drain rate over the last
     `api.admission_window_s` is throttled first, while the others still get in;
  3. at the limit everyone waits (as before), a client over its share longer.
A throttled client's Retry-After is what its own excess needs to drain at its share of the
drain rate (ingest's consumption, measured: admitted events minus the lag's growth).

Pure: time and the lag come in as arguments.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

ANONYMOUS = "anonymous"  # reads without a token (api.protect_reads off)
DEFAULT = "default"  # the tokens of api.tokens / api.tokens_file


@dataclass(frozen=True)
class Quota:
    weight: float = 1.0
    events_per_s: float = 0.0  # 0: no quota of its own
    max_streams: int = 0  # 0: only api.max_sse_clients


@dataclass(frozen=True)
class Verdict:
    admit: bool
    reason: str = ""  # quota | share | backpressure
    retry_after_s: int = 0
    fair_rate: float = 0.0  # events/s this client is due under contention (0: no contention)


@dataclass
class ClientState:
    quota: Quota
    tokens: float = 0.0
    refilled: float | None = None
    recent: deque[tuple[float, int]] = field(default_factory=deque)
    in_window: int = 0
    admitted: int = 0
    throttled: int = 0
    streams: int = 0
    deadlines: int = 0
    deadlines_met: int = 0

    def rate_window(self, now: float, window_s: float) -> int:
        while self.recent and self.recent[0][0] <= now - window_s:
            self.in_window -= self.recent.popleft()[1]
        return self.in_window


class FairAdmission:
    def __init__(
        self,
        quotas: Mapping[str, Quota],
        *,
        window_s: float = 5.0,
        share_from: float = 0.5,
        tolerance: float = 0.05,
    ) -> None:
        self.window_s = window_s
        self.share_from = share_from
        self.tolerance = tolerance
        self.clients = {name: ClientState(q) for name, q in quotas.items()}
        self.drain_rate = 0.0  # events/s ingest consumes, smoothed
        self.lag = 0
        self.limit = 0
        self._last: tuple[float, int, int] | None = None  # (time, lag, admitted so far)

    def state(self, client: str) -> ClientState:
        found = self.clients.get(client)
        if found is None:
            found = self.clients[client] = ClientState(Quota())
        return found

    def observe_lag(self, lag: int, limit: int, now: float) -> None:
        """A lag measurement: the drain rate is what was admitted minus what the lag grew by."""
        admitted = sum(c.admitted for c in self.clients.values())
        if self._last is not None and now > self._last[0]:
            t0, lag0, admitted0 = self._last
            drained = max((admitted - admitted0) - (lag - lag0), 0) / (now - t0)
            self.drain_rate = drained if self.drain_rate == 0 else 0.7 * self.drain_rate + 0.3 * drained
        self._last = (now, lag, admitted)
        self.lag, self.limit = lag, limit

    def _active_weight(self, client: str, now: float) -> float:
        return sum(
            c.quota.weight
            for name, c in self.clients.items()
            if name == client or c.rate_window(now, self.window_s) > 0
        )

    def decide(self, client: str, events: int, now: float, rejecting: bool = False) -> Verdict:
        """Whether `events` more from `client` get in now; if not, why and when to retry."""
        state = self.state(client)
        quota = state.quota
        if quota.events_per_s > 0:
            if state.refilled is None:
                state.tokens = quota.events_per_s
            else:
                state.tokens = min(
                    quota.events_per_s, state.tokens + (now - state.refilled) * quota.events_per_s
                )
            state.refilled = now
            # A batch larger than a second of quota gets in on a full bucket and leaves a debt.
            needed = min(events, quota.events_per_s)
            if needed > state.tokens:
                return self._throttle(state, "quota", (needed - state.tokens) / quota.events_per_s)
        contended = self.limit > 0 and (rejecting or self.lag >= self.share_from * self.limit)
        if not contended:
            return self._admit(state, events, now)
        drain = max(self.drain_rate, 1.0)
        active = self._active_weight(client, now)
        fair_rate = drain * quota.weight / active
        allowed = fair_rate * self.window_s * (1 + self.tolerance)
        excess = state.rate_window(now, self.window_s) + events - allowed
        if rejecting:
            # Alone, a client has no share to exceed: it waits like everyone (api.retry_after_s);
            # beside others, one over its share waits for its own excess to drain.
            alone = active <= quota.weight
            wait = 0.0 if alone else max(self.lag - self.limit / 2, 0) / drain + max(excess, 0) / fair_rate
            return self._throttle(state, "backpressure", wait, fair_rate)
        if excess > 0:
            return self._throttle(state, "share", excess / fair_rate, fair_rate)
        return self._admit(state, events, now, fair_rate)

    def _admit(self, state: ClientState, events: int, now: float, fair_rate: float = 0.0) -> Verdict:
        if state.quota.events_per_s > 0:
            state.tokens -= events
        state.recent.append((now, events))
        state.in_window += events
        state.admitted += events
        return Verdict(True, fair_rate=fair_rate)

    def _throttle(self, state: ClientState, reason: str, wait_s: float, fair_rate: float = 0.0) -> Verdict:
        state.throttled += 1
        return Verdict(False, reason, max(1, math.ceil(wait_s)), fair_rate)

    def shares(self, now: float) -> dict[str, float]:
        """Each client's share of what was admitted over the window (0 when nothing was)."""
        counts = {name: c.rate_window(now, self.window_s) for name, c in self.clients.items()}
        total = sum(counts.values())
        return {name: (n / total if total else 0.0) for name, n in counts.items()}

    def deadline(self, client: str, met: bool) -> float:
        """Record one request that carried a deadline; the client's ratio met so far."""
        state = self.state(client)
        state.deadlines += 1
        state.deadlines_met += met
        return state.deadlines_met / state.deadlines

    def open_stream(self, client: str, max_total: int, open_total: int) -> str | None:
        """None when the client may open one more SSE stream, else why not."""
        state = self.state(client)
        if state.quota.max_streams and state.streams >= state.quota.max_streams:
            return f"client {client!r} has its {state.quota.max_streams} streams open (api.clients.{client}.max_streams)"
        if open_total >= max_total:
            return "the api serves its maximum of SSE clients"
        state.streams += 1
        return None

    def close_stream(self, client: str) -> None:
        state = self.state(client)
        state.streams = max(state.streams - 1, 0)
