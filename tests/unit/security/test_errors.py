"""Refusals said plainly, and secrets kept out of what a worker shows or records."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import KafkaError

from workers.config import FleetSettings, KafkaSettings
from workers.runtime.fleet_config import config_record
from workers.security import errors
from workers.security.diagnose import required
from workers.topology import load_topology

PASSWORD = "s3cret-Pa55word"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: Authentication failed"),
            "authentication",
        ),
        (KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), "authorisation"),
        (KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED), "authorisation"),
        (KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED), "authorisation"),
        (KafkaError(KafkaError._TRANSPORT, "SSL routines::certificate verify failed"), "tls"),
        ("Fetch from broker 1 failed: Broker: Topic authorization failed", "authorisation"),
        (KafkaError(KafkaError._TRANSPORT, "Connection refused"), None),
        # No answer is not a refusal (a loaded broker, a dropped connection mid-handshake).
        (
            KafkaError(
                KafkaError._TIMED_OUT,
                "SASL authentication error: SaslAuthenticateRequest failed: Local: Timed out",
            ),
            None,
        ),
        (
            KafkaError(
                KafkaError._TRANSPORT,
                "SASL authentication error: SaslAuthenticateRequest failed: Local: Broker transport failure",
            ),
            None,
        ),
        (KafkaError(KafkaError._PARTITION_EOF), None),
    ],
)
def test_refusals_are_classified(error, kind):
    assert errors.kind(error) == kind
    explained = errors.explain(error)
    assert (explained is None) == (kind is None)
    if explained is not None:
        assert explained.startswith(f"{kind}: ")


def test_an_explanation_says_what_to_do():
    assert "acls apply" in (errors.explain(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)) or "")
    assert "sasl_password" in (errors.explain(KafkaError(KafkaError._AUTHENTICATION)) or "")
    assert "ssl_ca_location" in (errors.explain("certificate verify failed") or "")


def test_recent_refusals_expire_and_clear():
    refusals = errors.Refusals()
    refusals.record(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
    assert refusals.within(60) is None
    refusals.record(KafkaError(KafkaError._AUTHENTICATION, "Authentication failed"))
    assert (refusals.within(60) or "").startswith("authentication")
    assert refusals.within(-1) is None
    refusals.clear()
    assert refusals.within(60) is None


def _secured() -> FleetSettings:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="regime-fleet-engine",
        sasl_password=PASSWORD,
        ssl_key_password=PASSWORD + "k",
        schema_registry_basic_auth="u:" + PASSWORD + "r",
    )
    return FleetSettings(kafka=kafka)


def test_no_secret_in_the_recorded_config_or_the_redacted_settings():
    settings = _secured()
    for text in (
        json.dumps(config_record(settings, "engine")),
        json.dumps(settings.redacted()),
        repr(settings),
    ):
        assert PASSWORD not in text
    assert "kafka" not in settings.output_config()
    assert settings.kafka.client_config()["sasl.password"] == PASSWORD  # only where librdkafka needs it


def test_status_and_metrics_bind_address_is_a_setting():
    assert FleetSettings().runtime.http_host == "0.0.0.0"
    assert FleetSettings(runtime={"http_host": "127.0.0.1"}).runtime.http_host == "127.0.0.1"


def test_a_diagnosis_checks_every_operation_the_plan_grants():
    engine = load_topology(2).worker("engine")
    ops = required(engine)
    assert ops["engine.results"] == {"WRITE", "DESCRIBE_CONFIGS"}
    assert ops["engine.runs"] == {"READ", "WRITE", "DESCRIBE_CONFIGS"}
    assert ops["fleet.config"] == {"WRITE"}
