"""Weighted fair admission: quotas, the over-share client throttled first with its own
Retry-After, shares within tolerance of the weights under contention, stream quotas."""

from __future__ import annotations

from workers.api.auth import TokenCheck
from workers.api.fairness import FairAdmission, Quota


def contended(quotas: dict[str, Quota], drain: float = 1000.0) -> FairAdmission:
    fair = FairAdmission(quotas, window_s=1.0, share_from=0.5)
    fair.observe_lag(600, 1000, 0.0)  # at 60 % of the limit: shares are enforced
    fair.drain_rate = drain
    return fair


def test_a_quota_throttles_with_the_time_its_bucket_needs():
    fair = FairAdmission({"a": Quota(events_per_s=10)})
    assert fair.decide("a", 10, 0.0).admit
    verdict = fair.decide("a", 5, 0.2)  # 2 tokens back after 0.2 s
    assert (verdict.admit, verdict.reason, verdict.retry_after_s) == (False, "quota", 1)
    assert fair.decide("a", 5, 0.6).admit
    assert fair.decide("b", 10_000, 0.6).admit  # no quota of its own, no contention


def test_without_contention_shares_are_not_enforced():
    fair = FairAdmission({"a": Quota(), "b": Quota()}, window_s=1.0)
    fair.observe_lag(10, 1000, 0.0)
    assert all(fair.decide("a", 100, 0.001 * i).admit for i in range(100))


def test_the_client_over_its_share_is_throttled_first_and_others_still_get_in():
    fair = contended({"noisy": Quota(weight=1), "calm": Quota(weight=1)})
    fair.decide("calm", 1, 0.0)  # both active
    admitted = sum(fair.decide("noisy", 50, 0.01 * i).admit for i in range(40))
    assert admitted * 50 <= 1000 * 0.5 * 1.05 + 50  # about half the drain rate
    noisy = fair.decide("noisy", 50, 0.4)
    assert (noisy.admit, noisy.reason) == (False, "share") and noisy.retry_after_s >= 1
    assert fair.decide("calm", 50, 0.4).admit


def test_shares_follow_the_weights_under_contention():
    fair = contended({"a": Quota(weight=3), "b": Quota(weight=1)}, drain=400.0)
    now = 0.0
    for _ in range(2000):  # both offer far more than the drain rate
        now += 0.0005
        fair.decide("a", 1, now)
        fair.decide("b", 1, now)
    shares = fair.shares(now)
    assert abs(shares["a"] - 0.75) <= 0.05 and abs(shares["b"] - 0.25) <= 0.05


def test_at_the_limit_everyone_waits_and_the_over_share_client_longer():
    fair = contended({"a": Quota(), "b": Quota()}, drain=100.0)
    for i in range(60):
        fair.decide("a", 1, i * 0.001)
    fair.decide("b", 1, 0.06)
    fair.observe_lag(1500, 1000, 0.07)
    fair.drain_rate = 100.0
    a, b = fair.decide("a", 1, 0.08, rejecting=True), fair.decide("b", 1, 0.08, rejecting=True)
    assert not a.admit and not b.admit and a.reason == "backpressure"
    assert a.retry_after_s > b.retry_after_s >= 10  # (1500 - 500) / 100 s for the backlog


def test_the_drain_rate_is_measured_from_admissions_and_the_lag():
    fair = FairAdmission({"a": Quota()})
    fair.observe_lag(0, 1000, 0.0)
    for i in range(100):
        fair.decide("a", 10, 0.01 * i)  # 1000 admitted
    fair.observe_lag(400, 1000, 1.0)  # the lag grew by 400: 600 drained in 1 s
    assert fair.drain_rate == 600


def test_stream_quotas_per_client_and_in_total():
    fair = FairAdmission({"a": Quota(max_streams=1)})
    assert fair.open_stream("a", 10, 0) is None
    assert "max_streams" in (fair.open_stream("a", 10, 1) or "")
    fair.close_stream("a")
    assert fair.open_stream("a", 10, 1) is None
    assert fair.open_stream("b", 2, 2) == "the api serves its maximum of SSE clients"


def test_deadlines_met_ratio_per_client():
    fair = FairAdmission({})
    assert fair.deadline("a", True) == 1.0
    assert fair.deadline("a", False) == 0.5


def test_a_token_names_its_client():
    check = TokenCheck([b"legacy"], [("desk", b"t-desk"), ("research", b"t-research")])
    assert check.client("Bearer t-research") == "research"
    assert check.client("Bearer legacy") == "default"
    assert check.client("Bearer nope") is None and check.client(None) is None
