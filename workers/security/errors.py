"""Kafka refusing a client, said plainly: which kind of refusal and what to do about it.

librdkafka reports a wrong password or an untrusted certificate only through its error
callback (requests just time out); a worker's clients call `Refusals.record` of its readiness
(runtime/readiness.py), which is what the worker shows on /status. Authorisation errors
arrive as request errors and are classified by `explain`. Messages never contain a secret:
librdkafka's texts carry the mechanism and the broker, not the credentials.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from confluent_kafka import KafkaError

AUTHENTICATION = "authentication"
TLS = "tls"
AUTHORISATION = "authorisation"

_CODES = {
    KafkaError._AUTHENTICATION: AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED: AUTHENTICATION,
    KafkaError._SSL: TLS,
    KafkaError.TOPIC_AUTHORIZATION_FAILED: AUTHORISATION,
    KafkaError.GROUP_AUTHORIZATION_FAILED: AUTHORISATION,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: AUTHORISATION,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: AUTHORISATION,
}
_PATTERNS = [
    (re.compile(r"AUTHORIZATION_FAILED|authorization failed", re.I), AUTHORISATION),
    (re.compile(r"SASL authentication|Authentication failed|_AUTHENTICATION", re.I), AUTHENTICATION),
    (re.compile(r"SSL handshake|certificate verify failed|_SSL\b|ssl\.ca\.location", re.I), TLS),
]
# Requests that got no answer: librdkafka words a SaslAuthenticate request that timed out or
# lost its connection "SASL authentication error: SaslAuthenticateRequest failed: Local: Timed
# out" with the timeout's code. The broker did not reject anything: not a refusal (a wrong
# password comes as _AUTHENTICATION), whatever the text says; a TLS failure still is one.
_UNANSWERED = {KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
_ADVICE = {
    AUTHENTICATION: "the broker rejected the credentials: check kafka.sasl_mechanism, "
    "kafka.sasl_username and the kafka.sasl_password Secret",
    TLS: "TLS failed: the broker's certificate is not trusted by kafka.ssl_ca_location "
    "(or the client certificate is refused)",
    AUTHORISATION: "an ACL is missing for this principal: compare `regime-fleet acls verify` "
    "and grant with `regime-fleet acls apply`",
}


def kind(error: KafkaError | str) -> str | None:
    """authentication, tls, authorisation, or None for anything else."""
    if isinstance(error, KafkaError) and error.code() in _CODES:
        return _CODES[error.code()]
    unanswered = isinstance(error, KafkaError) and error.code() in _UNANSWERED
    text = str(error)
    for pattern, found in _PATTERNS:
        if pattern.search(text) and not (unanswered and found == AUTHENTICATION):
            return found
    return None


def explain(error: KafkaError | str) -> str | None:
    """`<kind>: <advice>: <error>` for a security refusal, None for anything else."""
    found = kind(error)
    if found is None:
        return None
    text = error.str() if isinstance(error, KafkaError) else str(error)
    return f"{found}: {_ADVICE[found]}: {text}"


class Refusals:
    """The last security refusal a process's clients reported, and when: librdkafka calls
    `record` (its error_cb) from its own threads, the worker's loop asks `within`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._message = ""
        self._at = 0.0

    def record(self, error: KafkaError) -> None:
        """An error_cb: remember security refusals (other errors stay as they were)."""
        message = explain(error)
        if message is not None:
            with self._lock:
                self._message, self._at = message, time.monotonic()

    def within(self, seconds: float) -> str | None:
        """The explained refusal reported in the last `seconds`, if any."""
        with self._lock:
            if self._message and time.monotonic() - self._at <= seconds:
                return self._message
        return None

    def clear(self) -> None:
        with self._lock:
            self._message, self._at = "", 0.0


def check_access(config: dict[str, Any], timeout_s: float) -> str | None:
    """Connect once with these client settings: the explained refusal (wrong or unknown user,
    untrusted certificate) as soon as librdkafka reports it, or None once the broker answers
    (or nothing was refused within `timeout_s`: an unreachable broker is not a refusal)."""
    from confluent_kafka import KafkaException, Producer

    seen: list[KafkaError] = []

    producer = Producer({**config, "error_cb": seen.append})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        producer.poll(0.1)
        refused = [explain(e) for e in seen if kind(e) is not None]
        if refused:
            return refused[-1]
        try:
            producer.list_topics(timeout=0.5)
            return None
        except KafkaException:
            continue
    return None
