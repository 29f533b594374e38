"""clients.watermarks: a partition without a leader yet is asked again, within the bound; any
other error is raised at once (CI once saw a replay fail on a topic created a moment before)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from workers import clients


class Answers:
    """Stands in for the consumer's get_watermark_offsets: raises the queued errors, then answers."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.asked = 0

    def get_watermark_offsets(self, tp, timeout):
        self.asked += 1
        assert 0 < timeout <= 5.0
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return (3, 7)


def test_a_partition_without_a_leader_yet_is_asked_again():
    answers = Answers(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
    assert clients.watermarks(answers, "t", 0, timeout_s=5) == (3, 7)  # type: ignore[arg-type]
    assert answers.asked == 3


def test_other_errors_are_raised_at_once():
    answers = Answers(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException) as raised:
        clients.watermarks(answers, "t", 0, timeout_s=5)  # type: ignore[arg-type]
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED and answers.asked == 1


def test_a_leader_that_never_comes_is_raised_within_the_bound():
    answers = Answers(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 1000)
    started = time.monotonic()
    with pytest.raises(KafkaException):
        clients.watermarks(answers, "t", 0, timeout_s=1.0)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.5 and answers.asked > 1
