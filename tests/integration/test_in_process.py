"""The in-process library (workers/in_process.py) answers as the broker-backed fleet does on the
same inputs: the same enrichment for every signal, the same rejections."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.fleet import Fleet
from tests.samples import trade_event
from workers.in_process import InProcessFleet, SignalRejected

pytestmark = pytest.mark.integration
T0 = 1_700_000_000_000
SAME = (
    "meta_confidence",
    "toxicity",
    "regime",
    "regime_weight",
    "regime_confidence",
    "model_version",
    "feature_values",
)


def signal(i: int, symbol: str, **overrides: Any) -> dict[str, Any]:
    return {
        "signal_id": f"sig-{i}",
        "strategy_id": "s1",
        "symbol": symbol,
        "signal_ts_ms": T0 + 60_000 + i,
        "direction": 1 if i % 2 else -1,
        "strength": 1.0,
        "price": 10.0 + i / 100,
        "features": {"ma_spread": 0.001 * (i % 5 - 2)},
        **overrides,
    }


def test_process_signal_equals_the_broker_fleet(fleet_factory: Any) -> None:
    fleet: Fleet = fleet_factory()
    symbols = ["AAA", "BBB", "CCC"]
    trades = [
        trade_event(
            event_id=f"t{i}", symbol=symbols[i % 3], event_ts_ms=T0 + i * 100,
            trade={"price": 10.0 + (i % 7) / 10, "size": 1.0 + i % 3, "side": "BUY" if i % 2 else "SELL"},
        )
        for i in range(300)
    ]  # fmt: skip
    signals = [signal(i, symbols[i % 3]) for i in range(30)] + [signal(99, "ZZZ")]  # ZZZ: no market data
    fleet.produce("market.raw", trades)
    fleet.start("ingest")
    fleet.start("enricher")  # boots while ingest works; the signals go out once ingest is done
    assert len(fleet.consume("market.buffer", len(trades))) == len(trades)
    fleet.produce("signals.raw", signals)
    live = {r["value"]["signal"]["signal_id"]: r for r in fleet.consume("signals.enriched", 30)}
    dlq = fleet.consume("fleet.dlq", 1)

    local = InProcessFleet(fleet.settings(), workers=["ingest", "enricher"])
    local.market(trades)
    for s in signals[:-1]:
        mine = local.process_signal(s)
        theirs = live[s["signal_id"]]
        assert {k: mine[k] for k in SAME} == {k: theirs["value"][k] for k in SAME}, s["signal_id"]
        assert mine["provenance"]["feature_hash"] == theirs["value"]["provenance"]["feature_hash"]
        assert mine["provenance"]["signal_partition"] == theirs["partition"]
    with pytest.raises(SignalRejected) as rejected:
        local.process_signal(signals[-1])
    assert [r["headers"]["error_code"] for r in dlq] == [rejected.value.code] == ["UNKNOWN_SYMBOL"]
