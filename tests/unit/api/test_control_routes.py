"""The operator endpoints' refusals, answered before anything reaches Kafka: auth, unknown
workers and partitions, targets a command cannot have, replays of what cannot be replayed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from workers.api.app import ApiState, create_app
from workers.api.auth import TokenCheck
from workers.api.metrics import ApiMetrics
from workers.api.streams import Hub
from workers.config import load_settings
from workers.runtime.health import WorkerStatus
from workers.runtime.observability import get_logger
from workers.topology import load_topology

AUTH = {"Authorization": "Bearer secret", "X-Correlation-Id": "ops-1"}


@pytest.fixture
def client() -> TestClient:
    settings = load_settings()
    metrics = ApiMetrics()
    svc = ApiState(
        settings=settings,
        topology=load_topology(settings.partitions),
        metrics=metrics,
        tokens=TokenCheck([b"secret"]),
        log=get_logger(worker="api"),
        serde=None,  # type: ignore[arg-type]  # nothing here encodes
        status=WorkerStatus(worker="api", group="", metrics=metrics.worker),
        partitions={},
        hub=Hub([], 1, 1),
    )
    return TestClient(create_app(svc))  # no lifespan: no tails, no Kafka


def test_writes_need_the_token(client: TestClient) -> None:
    for path in ("/v1/control/pause", "/v1/control/halt", "/v1/control/resume", "/v1/replays"):
        answer = client.post(path, json={"symbol": "AAA"})
        assert answer.status_code == 401 and answer.json()["error"] == "UNAUTHORIZED", path


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/control/pause", {"worker": "nobody"}, 404, "UNKNOWN_WORKER"),
        ("/v1/control/pause", {"worker": "engine", "partition": 99}, 404, "UNKNOWN_PARTITION"),
        ("/v1/control/pause", {"partition": 1, "symbol": "AAA"}, 422, "BAD_TARGET"),
        ("/v1/control/halt", {"worker": "enricher"}, 422, "BAD_TARGET"),
        ("/v1/control/resume", {"symbol": "AAA", "mode": "sleep"}, 422, "UNKNOWN_MODE"),
        ("/v1/control/pause", {"partition": "one"}, 422, "INVALID_REQUEST"),
        ("/v1/replays", {"topic": "regime.events"}, 422, "NOT_REPLAYABLE"),
        ("/v1/replays", {"topic": "engine.runs", "from_ms": 5, "to_ms": 1}, 422, "BAD_RANGE"),
        ("/v1/replays", {"topic": "signals.enriched", "config_source": "mine"}, 422, "BAD_CONFIG_SOURCE"),
    ],
)
def test_bad_commands_get_a_clear_4xx(
    client: TestClient, path: str, body: dict, status: int, code: str
) -> None:
    answer = client.post(path, json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code and answer.json()["correlation_id"] == "ops-1"
    assert answer.json()["message"]


def test_not_json_and_unknown_jobs(client: TestClient) -> None:
    answer = client.post("/v1/control/pause", content=b"{nope", headers=AUTH)
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_JSON"
    answer = client.get("/v1/replays/replay-nothing")
    assert answer.status_code == 404 and answer.json()["error"] == "UNKNOWN_JOB"
    answer = client.get("/v1/models/..%2Fetc/passwd")
    assert answer.status_code == 404


def test_the_topology_exports_as_yaml(client: TestClient) -> None:
    import yaml

    answer = client.get("/v1/topology.yaml")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(answer.text) == client.get("/v1/topology").json()
