"""The trainer worker (`regime-fleet run trainer`): RetrainTriggers in, ModelRecords out.

It is a job runner, not a stream processor: a training run takes longer than a transaction may
stay open, so it consumes `models.retrain` in its own group, trains, publishes the model to
every partition of `models`, writes the report, and only then commits the trigger's offset.
A crash in between trains again on restart; the enricher ignores a republished version and
swaps to a newer one, so the worst case is one extra model version.

A trigger that names a model which is no longer the active one is stale (another partition's
trigger already led to a retrain) and is skipped with a log line: one retrain per condition.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException

from workers import clients
from workers.config import FleetSettings
from workers.contracts import DecodeError, Serde
from workers.enricher.settings import EnricherSettings
from workers.meta_model import NO_MODEL
from workers.meta_model.training import TrainingError, train
from workers.runtime.health import WorkerStatus, serve
from workers.runtime.observability import WorkerMetrics, get_logger
from workers.runtime.reader import TopicError, read_all
from workers.topics import MODELS, RETRAIN
from workers.topology import Topology
from workers.trainer.data import from_outcomes
from workers.trainer.publish import publish_model
from workers.trainer.report import write_report
from workers.trainer.settings import TrainerSettings


def active_model(settings: FleetSettings) -> dict[str, Any] | None:
    """The newest live ModelRecord of enricher.model_name on `models`, or None."""
    live = [
        s.value
        for s in read_all(settings, MODELS, "ModelRecord", skip_undecodable=True)
        if s.value["model_name"] == EnricherSettings.of(settings).model_name
        and s.value.get("status", "live") == "live"
    ]
    return max(live, key=lambda v: v["trained_ts_ms"], default=None)


def train_and_publish(settings: FleetSettings, reason: str, log: Any) -> dict[str, Any]:
    """Train on the live outcomes, write the report, publish (live or rejected): a summary."""
    active = active_model(settings)
    now = int(time.time() * 1000)
    version = (
        f"{EnricherSettings.of(settings).model_name}-{datetime.fromtimestamp(now / 1000, UTC):%Y%m%dT%H%M%S}Z"
    )
    result = train(settings, from_outcomes(settings), version=version, trained_ts_ms=now, active=active)
    record = result.record
    key = record["model_name"] if record["status"] == "live" else f"{record['model_name']}:rejected:{version}"
    # The report (with model.ubj) first: once the model is on `models`, rollback, challenge and
    # promote can be asked for it by version, and they read it from trainer.report_dir.
    png = write_report(result, Path(TrainerSettings.of(settings).report_dir) / version)
    placed = publish_model(settings, record, key=key)
    summary = {
        "model_version": version,
        "status": record["status"],
        "why": result.report["rejected_because"],
        "validation_auc": result.report["validation"]["auc"],
        "gate": {g["criterion"]: g["verdict"] for g in result.report["gate"]},
        "held_out_ece": result.report["calibration"]["calibrated"]["ece"],
        "samples": record["training_samples"],
        "reason": reason,
        "partitions": len(placed),
        "report": str(png),
    }
    log.info("model_trained", **summary)
    return summary


class Trainer:
    def __init__(self, settings: FleetSettings, topology: Topology) -> None:
        self.settings = settings
        self.serde = Serde.of(settings)
        self.metrics = WorkerMetrics()
        self.status = WorkerStatus("trainer", settings.group("trainer"), self.metrics)
        self.log = get_logger(worker="trainer", group_id=self.status.group)
        self.stopping = False

    def run(self) -> int:
        server = serve(self.status, self.settings.runtime.http_port, self.settings.runtime.http_host)
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        consumer = Consumer(clients.consumer_config(self.settings, self.status.group))
        consumer.subscribe([self.settings.topic(RETRAIN)])
        self.status.set_lifecycle("running")
        try:
            while not self.stopping:
                self.status.last_poll_monotonic = time.monotonic()
                for msg in consumer.consume(10, 1.0):
                    if msg.error() is None:
                        self._trigger(msg)
                        consumer.commit(message=msg, asynchronous=False)
        except KafkaException as exc:
            self.log.error("trainer_failed", error=str(exc))
            self.status.set_lifecycle("degraded")
            return 1
        finally:
            consumer.close()
            server.shutdown()
        self.status.set_lifecycle("stopped")
        return 0

    def stop(self) -> None:
        self.stopping = True

    def _trigger(self, msg: Any) -> None:
        try:
            trigger = self.serde.decode("RetrainTrigger", msg.value(), topic=msg.topic())
        except DecodeError as exc:
            self.log.warning("trigger_undecodable", offset=msg.offset(), error=str(exc))
            return
        try:
            active = active_model(self.settings)
            current = active["model_version"] if active else NO_MODEL
            if trigger["model_version"] != current:
                self.log.info(
                    "trigger_stale",
                    trigger_id=trigger["trigger_id"],
                    names=trigger["model_version"],
                    active=current,
                )
                return
            train_and_publish(self.settings, trigger["reason"], self.log)
        except (TrainingError, TopicError) as exc:
            self.status.last_error = str(exc)
            self.log.warning("training_skipped", trigger_id=trigger["trigger_id"], error=str(exc))


def build(settings: FleetSettings, topology: Topology) -> Trainer:
    return Trainer(settings, topology)
