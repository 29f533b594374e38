"""The chaos suite's cheap scenarios, short form, on the suite's own broker (port 19092, never
the shared test broker): a SIGKILL of each worker, a restart over an open transaction and
poison records must lose, duplicate and reorder nothing, crash nothing, and recover within
the bound. (poison-changelogs is not here: it asks for the corrupt record dead-lettered and
nothing lost, while the state domain declares a corrupt changelog record fatal; see
docs/reliability.md.)"""

from __future__ import annotations

import os

import pytest

from harness.chaos.harness import ScenarioResult
from harness.chaos.run import run_scenarios

pytestmark = pytest.mark.integration


def _verdict(r: ScenarioResult) -> str:
    return f"{r.name}: {r.status}\n  " + "\n  ".join([f"stuck: {r.stuck}", *r.notes])


@pytest.mark.parametrize("scenario", ["sigkill-truth", "open-transaction", "poison-inputs"])
def test_short_scenario_is_clean(scenario: str) -> None:
    port = int(os.environ.get("CHAOS_KAFKA_PORT", "19092"))
    [r], _logs = run_scenarios([scenario], port=port, external=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    assert r.status != "error", _verdict(r)
    assert r.expected > 0 and r.published >= r.expected, _verdict(r)
    assert (r.lost, r.duplicated, r.out_of_order, r.mismatched, r.extra) == (0, 0, 0, 0, 0), _verdict(r)
    assert r.unexpected_exits == 0 and not r.stuck, _verdict(r)
    assert r.recovery_ok, _verdict(r)
    assert r.provenance_ok, _verdict(r)
    assert r.dlq_ok, _verdict(r)
    if scenario == "sigkill-truth":
        assert r.kills == 4, _verdict(r)
