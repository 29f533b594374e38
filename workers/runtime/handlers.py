"""What a live worker does when one record or one produce fails: small policies the topology
selects (Kafka Streams' Deserialization-, Processing- and ProductionExceptionHandler in
spirit), kept out of the loop so each can be read and tested on its own.

- decode: an undecodable record is dead-lettered with the decoder's error code.
- process: `Unavailable` retries the record later (the checkpoint aborts, the worker's `reads`
  retry domain pauses it); any other exception dead-letters it (PROCESSOR_ERROR): a bug or a
  poison pill never stops a partition.
- unit timeout: processing that overran the topology's `unit_timeout` limit is replaced by the
  core's timeout outputs (`on_timeout: fail`) or dead-lettered (TIMEOUT).
- produce: a produce that fails at once aborts the checkpoint; a stuck call or a fatal
  producer error also abandons the producer (`reset`), so a new one fences it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException

from workers.config import FleetSettings
from workers.contracts import DecodeError
from workers.processing import Output, Record, Unavailable, dead_letter
from workers.topology import WorkerSpec, setting


@dataclass(frozen=True)
class Handled:
    """A handler's verdict: emit `outputs` in the record's place (with `dead_letter_code` when
    they are its dead letter), or retry it later in the retry domain `retry`."""

    outputs: list[Output] = field(default_factory=list)
    dead_letter_code: str | None = None
    retry: str | None = None


@dataclass(frozen=True)
class FailureHandlers:
    dead_letter_topic: str
    reads_domain: str
    unit_timeout_ms: int = 0  # 0: no limit
    fail_on_timeout: bool = False

    @classmethod
    def for_worker(cls, spec: WorkerSpec, settings: FleetSettings) -> FailureHandlers:
        timeout = spec.unit_timeout
        return cls(
            dead_letter_topic=spec.dead_letter,
            reads_domain=spec.reads_domain,
            unit_timeout_ms=int(setting(settings, timeout.limit)) if timeout else 0,
            fail_on_timeout=timeout is not None and timeout.on_timeout == "fail",
        )

    def _dead_letter(self, record: Record, code: str, message: str) -> Handled:
        return Handled([dead_letter(record, self.dead_letter_topic, code, message)], dead_letter_code=code)

    def on_decode(self, record: Record, error: DecodeError) -> Handled:
        return self._dead_letter(record, error.code, str(error))

    def on_process_error(self, record: Record, error: Exception) -> Handled:
        if isinstance(error, Unavailable):
            return Handled(retry=self.reads_domain)
        return self._dead_letter(record, "PROCESSOR_ERROR", f"{type(error).__name__}: {error}")

    def overran(self, elapsed_ms: int) -> bool:
        return 0 < self.unit_timeout_ms < elapsed_ms

    def on_unit_timeout(
        self, record: Record, elapsed_ms: int, timed_out: Callable[[Record, int], list[Output] | None]
    ) -> Handled:
        """`timed_out` is the core's hook: its outputs for an overrun unit, or None."""
        outputs = timed_out(record, elapsed_ms) if self.fail_on_timeout else None
        if outputs is None:
            return self._dead_letter(record, "TIMEOUT", f"processing took {elapsed_ms} ms")
        return Handled(outputs)


def resets_producer(error: Exception) -> bool:
    """A produce or commit error after which the producer cannot be trusted: a call that got
    stuck (the runtime's StuckCall) or a fatal librdkafka error."""
    if not isinstance(error, KafkaException):
        return True
    code = error.args[0] if error.args and isinstance(error.args[0], KafkaError) else None
    return code is not None and (code.fatal() or code.code() == KafkaError._FATAL)
