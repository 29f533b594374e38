"""Contract: every answer of a running api matches the committed docs/openapi.json, under
schemathesis' generated requests (valid and invalid), for every route but the endless SSE
streams (tests/integration/test_api.py and test_api_sse.py cover those)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from harness.launcher import free_port
from tests.integration.fleet import Fleet
from workers.api.openapi import COMMITTED

pytestmark = pytest.mark.integration
TOKEN = "contract-token"
schema = schemathesis.openapi.from_path(COMMITTED).exclude(path_regex=r"/(stream|events)$", method="GET")


@pytest.fixture(scope="module")
def api_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    fleet = Fleet(kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}.", Path(tmp_path_factory.mktemp("contract")), {})
    fleet.create_topics()
    port = free_port()
    fleet.start("api", api__port=str(port), api__tokens=json.dumps([TOKEN]), api__lookup_timeout_s="10")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        fleet.teardown()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_committed_openapi(case: schemathesis.Case, api_url: str) -> None:
    case.call_and_validate(
        base_url=api_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )
