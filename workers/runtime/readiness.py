"""Whether a worker can do its work and, if not, why: lifecycle, the reasons it is not ready,
credential refusals its clients report and consumer errors, in one object (/status shows it).

A reason keeps the worker not ready until it is cleared. Refusals (password, certificate, ACL)
and consumer errors also turn it degraded; both clear by themselves once none was seen for
ERROR_REASON_S, and a degraded worker with no reason left is running again.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError

from workers.runtime.health import WorkerStatus
from workers.security.errors import Refusals, explain

ERROR_REASON_S = 15.0  # a consumer error keeps the worker not ready this long after it last occurred
KAFKA = "kafka"


class Readiness:
    def __init__(self, status: WorkerStatus, log: Any) -> None:
        self.status = status
        self.log = log
        self.refusals = Refusals()
        self._kafka_error_at = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def lifecycle(self) -> str:
        return self.status.lifecycle

    def set_lifecycle(self, state: str) -> None:
        self.status.set_lifecycle(state)

    def degrade(self, event: str, error: str) -> None:
        """Degraded and not ready, saying why (logged as `event`)."""
        self.status.set_lifecycle("degraded")
        self.status.last_error = error
        self.log.error(event, lifecycle="degraded", error=error)

    def recover(self) -> None:
        """Running again once a degraded worker has no reason left."""
        if self.status.lifecycle == "degraded" and not self.status.pause_reasons:
            self.status.set_lifecycle("running")
            self.log.info("worker_recovered", lifecycle="running")

    # -- reasons -------------------------------------------------------------------------

    def block(self, key: str, reason: str) -> None:
        self.status.pause_reasons[key] = reason

    def unblock(self, key: str) -> bool:
        """Clear a reason; True when there was one."""
        return self.status.pause_reasons.pop(key, None) is not None

    def error(self, message: str) -> None:
        self.status.last_error = message

    # -- Kafka's refusals and errors -----------------------------------------------------

    def client_error(self, error: KafkaError) -> None:
        """librdkafka's error_cb for every client of this worker (called from its threads)."""
        self.refusals.record(error)

    def refused(self, message: str) -> None:
        """Kafka refused this worker (credentials, certificate, ACL): degraded and not ready,
        saying why, until no refusal for ERROR_REASON_S."""
        self._kafka_error_at = time.monotonic()
        self.status.pause_reasons[KAFKA] = message
        if self.status.lifecycle != "degraded" or self.status.last_error != message:
            self.degrade("kafka_refused", message)

    def refused_by(self, error: KafkaError | str) -> bool:
        """Treat `error` as a refusal if it is one; True when it was."""
        message = explain(error)
        if message is not None:
            self.refused(message)
        return message is not None

    def consumer_error(self, error: KafkaError) -> None:
        """A consumer error other than a refusal: not ready until it stops recurring."""
        if self.refused_by(error):
            return
        self._kafka_error_at = time.monotonic()
        self.status.pause_reasons[KAFKA] = f"consumer: {error}"
        self.status.last_error = str(error)
        self.log.warning("consume_error", error=str(error), fatal=error.fatal())

    def admitted(self) -> None:
        """The broker accepted the credentials: an earlier refusal must not degrade the worker."""
        self.status.pause_reasons.pop(KAFKA, None)
        self.refusals.clear()

    def tick(self) -> None:
        """After each poll: a refusal reported meanwhile degrades; a Kafka reason older than
        ERROR_REASON_S clears (and a worker degraded by it alone recovers)."""
        refused = self.refusals.within(ERROR_REASON_S)
        if refused is not None:
            self.refused(refused)
        elif time.monotonic() - self._kafka_error_at > ERROR_REASON_S and self.unblock(KAFKA):
            self.recover()
