"""Replays as jobs: `POST /v1/replays` starts what `regime-fleet replay` runs, in a thread, one
at a time (a replay reads whole topics; the machine is shared with the fleet), and keeps the
last jobs' progress and reports in memory (per api process)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer

from workers import clients
from workers.config import FleetSettings

REPLAYABLE = ("engine.runs", "market.buffer", "market.raw", "signals.enriched")
KEPT = 50  # finished jobs remembered


class BadReplay(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class ReplayJob:
    job_id: str
    topic: str
    symbol: str | None
    from_ms: int | None
    to_ms: int | None
    config_source: str
    correlation_id: str
    state: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: str = ""
    created_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    finished_at_ms: int | None = None
    changed: threading.Event = field(default_factory=threading.Event, repr=False)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.changed.set()

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "changed"}


def records_in(settings: FleetSettings, topic: str) -> int:
    """How many records `topic` holds (high - low over its partitions), bounded."""
    name = settings.topic(topic)
    consumer = Consumer(clients.reader_config(settings))
    try:
        meta = consumer.list_topics(name, timeout=5).topics.get(name)
        if meta is None or meta.error is not None:
            raise BadReplay(404, "UNKNOWN_TOPIC", f"topic {name} does not exist")
        total = 0
        for p in meta.partitions:
            low, high = clients.watermarks(consumer, name, p, 5)
            total += max(0, high - low)
        return total
    finally:
        consumer.close()


class ReplayJobs:
    def __init__(self, settings: FleetSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.jobs: OrderedDict[str, ReplayJob] = OrderedDict()
        self._one = threading.Semaphore(1)

    def check(self, body: dict[str, Any]) -> ReplayJob:
        """The job a request describes; BadReplay (4xx) when it cannot run."""
        topic = body.get("topic")
        if topic not in REPLAYABLE:
            raise BadReplay(422, "NOT_REPLAYABLE", f"topic {topic!r}: use one of {', '.join(REPLAYABLE)}")
        source = body.get("config_source", "recorded")
        if source not in ("recorded", "current"):
            raise BadReplay(422, "BAD_CONFIG_SOURCE", f"config_source {source!r}: use recorded or current")
        bounds = {k: body.get(k) for k in ("from_ms", "to_ms")}
        if any(v is not None and not isinstance(v, int) for v in bounds.values()):
            raise BadReplay(422, "BAD_RANGE", "from_ms and to_ms are engine timestamps in ms (integers)")
        if (
            bounds["from_ms"] is not None
            and bounds["to_ms"] is not None
            and bounds["from_ms"] > bounds["to_ms"]
        ):
            raise BadReplay(422, "BAD_RANGE", "from_ms is after to_ms")
        if (bounds["from_ms"] is not None or bounds["to_ms"] is not None) and topic != "engine.runs":
            raise BadReplay(422, "BAD_RANGE", "a range (from_ms, to_ms) applies to engine.runs replays only")
        symbol = body.get("symbol")
        if symbol is not None and (not isinstance(symbol, str) or not symbol.strip()):
            raise BadReplay(422, "BAD_SYMBOL", "symbol must be a non-empty string")
        if records_in(self.settings, str(topic)) == 0:
            raise BadReplay(
                422, "EMPTY_TOPIC", f"{self.settings.topic(str(topic))} holds no records: nothing to replay"
            )
        return ReplayJob(
            job_id=f"replay-{uuid.uuid4().hex[:12]}",
            topic=str(topic),
            symbol=symbol,
            from_ms=bounds["from_ms"],
            to_ms=bounds["to_ms"],
            config_source=str(source),
            correlation_id=str(body.get("correlation_id", "")),
        )

    def start(self, job: ReplayJob) -> None:
        self.jobs[job.job_id] = job
        while len(self.jobs) > KEPT:
            oldest = next(iter(self.jobs.values()))
            if oldest.state in ("queued", "running"):
                break
            self.jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job,), name=f"replay-{job.job_id}", daemon=True).start()

    def _run(self, job: ReplayJob) -> None:
        with self._one:
            job.state = "running"
            job.changed.set()
            try:
                job.report = run_replay(self.settings, job)
                job.state = "done"
            except Exception as exc:  # a failed job (TopicError, a broker gone) is its report, not the api's
                job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"
            job.finished_at_ms = int(time.time() * 1000)
            job.changed.set()
            self.log.info(
                "replay_job_finished", job_id=job.job_id, state=job.state, correlation_id=job.correlation_id
            )


def run_replay(settings: FleetSettings, job: ReplayJob) -> dict[str, Any]:
    """What `regime-fleet replay` prints (its JSON report), for one job."""
    from workers.replay.config import replay_config

    chosen = replay_config(settings, "current" if job.config_source == "current" else "recorded")
    if job.topic == "signals.enriched":
        from workers.replay.enriched import replay_enriched

        report = replay_enriched(chosen.settings, symbol=job.symbol, progress=job.progress)
    elif job.topic == "engine.runs":
        from workers.replay.engine_runs import replay_engine_runs

        report = replay_engine_runs(
            chosen.settings, symbol=job.symbol, start=job.from_ms, end=job.to_ms, progress=job.progress
        )
    else:
        from workers.replay.pipeline import replay_pipeline

        report = replay_pipeline(chosen.settings, job.topic, symbol=job.symbol, progress=job.progress)
    report.config_source, report.config_differs = chosen.source, chosen.differs
    return report.as_dict()
