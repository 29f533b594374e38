"""Readiness: one object says whether a worker can work and why not; refusals reported by any
client degrade it, and every reason clears by itself once mended."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaError

from workers.runtime import readiness as module
from workers.runtime.health import WorkerStatus
from workers.runtime.observability import WorkerMetrics
from workers.runtime.readiness import Readiness

METRICS = WorkerMetrics()


def _readiness() -> Readiness:
    r = Readiness(WorkerStatus("ingest", "g", METRICS), structlog.get_logger())
    r.set_lifecycle("running")
    return r


def test_a_reason_makes_the_worker_not_ready_until_it_is_cleared() -> None:
    r = _readiness()
    assert r.status.ready()
    r.block("opening", "restoring stores")
    assert not r.status.ready() and r.lifecycle == "running"
    assert r.unblock("opening") and not r.unblock("opening")
    assert r.status.ready()


def test_a_refusal_from_a_client_thread_degrades_at_the_next_tick_and_clears_when_mended() -> None:
    r = _readiness()
    r.client_error(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
    r.tick()
    assert r.status.ready(), "a transport error is not a refusal"
    r.client_error(KafkaError(KafkaError._AUTHENTICATION, "Authentication failed"))
    r.tick()
    assert r.lifecycle == "degraded" and not r.status.ready()
    assert r.status.pause_reasons["kafka"].startswith("authentication: ")
    r.admitted()
    assert r.status.pause_reasons == {} and r.refusals.within(60) is None


def test_a_consumer_error_clears_after_the_quiet_period_and_the_worker_recovers(monkeypatch) -> None:
    r = _readiness()
    r.refused_by(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert r.lifecycle == "degraded" and "acls apply" in r.status.last_error
    r.tick()
    assert r.lifecycle == "degraded", "still within the quiet period"
    monkeypatch.setattr(module, "ERROR_REASON_S", -1.0)
    r.refusals.clear()
    r.tick()
    assert r.lifecycle == "running" and r.status.ready()


def test_a_plain_consumer_error_blocks_without_degrading() -> None:
    r = _readiness()
    r.consumer_error(KafkaError(KafkaError._TRANSPORT, "broker down"))
    assert r.lifecycle == "running" and not r.status.ready()
    assert r.status.pause_reasons["kafka"].startswith("consumer: ")


def test_degraded_recovers_only_without_reasons() -> None:
    r = _readiness()
    r.block("partition 0", "state: checkpoint failed")
    r.degrade("worker_degraded", "state")
    r.recover()
    assert r.lifecycle == "degraded"
    r.unblock("partition 0")
    r.recover()
    assert r.lifecycle == "running"
