"""The failure policies a worker's topology selects: what one undecodable, failing or overrunning
record, and one failed produce, lead to."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from workers.contracts import DecodeError
from workers.processing import Output, Record, Unavailable
from workers.processing.records import ERROR_CODE, ERROR_MESSAGE
from workers.runtime.checkpoint import StuckCall
from workers.runtime.handlers import FailureHandlers, resets_producer
from workers.topology import load_topology

RECORD = Record("engine.runs", 2, 41, "SPX", {"run_id": "r"}, raw=b"\x01bytes", raw_key=b"SPX")
TIMEOUT_OUTPUT = Output("engine.results", "SPX", {"event_type": "EngineRunFailed"})


def _handlers(**kw: object) -> FailureHandlers:
    return FailureHandlers(**{"dead_letter_topic": "fleet.dlq", "reads_domain": "buffer", **kw})  # type: ignore[arg-type]


def test_an_undecodable_record_is_dead_lettered_with_the_decoders_code_and_its_bytes() -> None:
    handled = _handlers().on_decode(RECORD, DecodeError("bad magic", schema="X", code="BAD_MAGIC"))
    (out,) = handled.outputs
    assert handled.dead_letter_code == "BAD_MAGIC" and handled.retry is None
    assert (out.topic, out.key, out.value, out.partition) == ("fleet.dlq", b"SPX", b"\x01bytes", 2)
    assert out.headers[ERROR_CODE] == "BAD_MAGIC" and out.headers["source_offset"] == "41"


def test_an_unavailable_input_retries_in_the_reads_domain_and_emits_nothing() -> None:
    handled = _handlers().on_process_error(RECORD, Unavailable("buffer not readable yet"))
    assert handled.retry == "buffer" and handled.outputs == [] and handled.dead_letter_code is None


def test_any_other_processing_error_dead_letters_the_record_naming_the_exception() -> None:
    handled = _handlers().on_process_error(RECORD, KeyError("symbol"))
    (out,) = handled.outputs
    assert handled.dead_letter_code == "PROCESSOR_ERROR" and handled.retry is None
    assert out.headers[ERROR_MESSAGE] == "KeyError: 'symbol'"


def test_a_unit_timeout_fails_with_the_cores_outputs_or_dead_letters() -> None:
    failing = _handlers(unit_timeout_ms=100, fail_on_timeout=True)
    assert not failing.overran(100) and failing.overran(101)
    assert failing.on_unit_timeout(RECORD, 150, lambda r, ms: [TIMEOUT_OUTPUT]).outputs == [TIMEOUT_OUTPUT]
    # A core with nothing to say for a timeout, or a policy that does not fail: a dead letter.
    for handlers, hook in (
        (failing, lambda r, ms: None),
        (_handlers(unit_timeout_ms=100), lambda r, ms: [TIMEOUT_OUTPUT]),
    ):
        handled = handlers.on_unit_timeout(RECORD, 150, hook)
        assert handled.dead_letter_code == "TIMEOUT"
        assert handled.outputs[0].headers[ERROR_MESSAGE] == "processing took 150 ms"
    assert not _handlers().overran(10**9), "no limit without a unit_timeout"


def test_the_topology_selects_the_policies() -> None:
    topology = load_topology(1)
    from workers.config import FleetSettings

    settings = FleetSettings()
    engine = FailureHandlers.for_worker(topology.worker("engine"), settings)
    ingest = FailureHandlers.for_worker(topology.worker("ingest"), settings)
    assert (
        engine.fail_on_timeout
        and engine.unit_timeout_ms == 30_000
        and engine.dead_letter_topic == "fleet.dlq"
    )
    assert (
        not ingest.fail_on_timeout
        and ingest.unit_timeout_ms == 0
        and ingest.dead_letter_topic == "market.raw.dlq"
    )


def test_stuck_calls_and_fatal_errors_reset_the_producer_others_do_not() -> None:
    assert resets_producer(StuckCall("commit_transaction did not return"))
    assert resets_producer(KafkaException(KafkaError(KafkaError._FATAL, "fenced", fatal=True)))
    assert not resets_producer(KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out")))
