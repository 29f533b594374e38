"""The noisy-neighbour bench's load plan: contention in B only, every client over its share
there, the noisy client at 10 x its quota."""

from __future__ import annotations

import json

from harness.bench.neighbours import DRAIN_PER_S, NOISY, WELL_BEHAVED, clients_setting, token
from workers.api.settings import ApiSettings


def test_the_load_plan_contends_in_b_only_and_every_client_offers_more_than_its_share() -> None:
    assert NOISY.rate == 10 * NOISY.events_per_s
    offered_a = sum(c.rate for c in WELL_BEHAVED)
    admissible_b = offered_a + NOISY.events_per_s  # the noisy client held to its quota
    assert offered_a < DRAIN_PER_S < admissible_b
    total = sum(c.weight for c in (*WELL_BEHAVED, NOISY))
    for c in WELL_BEHAVED:
        assert c.rate < c.events_per_s  # below its quota
        assert c.rate > 1.05 * DRAIN_PER_S * c.weight / total  # over its share under contention
    assert NOISY.events_per_s > 1.05 * DRAIN_PER_S * NOISY.weight / total


def test_the_clients_setting_is_what_the_api_reads() -> None:
    clients = ApiSettings(clients=json.loads(clients_setting((*WELL_BEHAVED, NOISY)))).clients
    noisy = clients["noisy"]
    assert (noisy.token.get_secret_value(), noisy.weight, noisy.events_per_s) == (token(NOISY), 2, 40)
    assert [clients[c.name].weight for c in WELL_BEHAVED] == [3, 2, 1]
