"""The chaos suite's cheap scenarios, short form, on the session's broker (none of them
restarts it): a SIGKILL of each worker with a warm standby beside it, a restart over an open
transaction and poison records must lose, duplicate and reorder nothing, crash nothing, and
recover within the bound (the SIGKILLs without standbys are test_pipeline's). (poison-changelogs is not here: it asks for the corrupt record dead-lettered and
nothing lost, while the state domain declares a corrupt changelog record fatal; see
docs/reliability.md.)"""

from __future__ import annotations

import pytest

from harness.chaos.harness import ScenarioResult
from harness.chaos.run import run_scenarios

pytestmark = pytest.mark.integration


def _verdict(r: ScenarioResult) -> str:
    return f"{r.name}: {r.status}\n  " + "\n  ".join([f"stuck: {r.stuck}", *r.notes])


@pytest.mark.parametrize("scenario", ["sigkill-standby", "open-transaction", "poison-inputs"])
def test_short_scenario_is_clean(scenario: str, kafka_bootstrap: str) -> None:
    [r], _logs = run_scenarios([scenario], port=0, external=kafka_bootstrap)
    assert r.status != "error", _verdict(r)
    assert r.expected > 0 and r.published >= r.expected, _verdict(r)
    assert (r.lost, r.duplicated, r.out_of_order, r.mismatched, r.extra) == (0, 0, 0, 0, 0), _verdict(r)
    assert r.unexpected_exits == 0 and not r.stuck, _verdict(r)
    assert r.recovery_ok, _verdict(r)
    assert r.provenance_ok, _verdict(r)
    assert r.dlq_ok, _verdict(r)
    if scenario == "sigkill-standby":
        assert r.kills == 4, _verdict(r)
