"""`provenance verify` walks every per-symbol hash chain on regime.events; `provenance show`
prints one run: its record, its cut's inputs (with the input hash recomputed by the version the
run recorded: v1 canonical JSON, v2 Avro bytes; docs/contracts.md), its chain links.

The chain links cover each event's provenance.input_hash whatever its version, so `verify` walks
runs of both versions alike; only `show` recomputes an input hash, and it uses the run's version."""

from __future__ import annotations

from typing import Any

from workers.config import FleetSettings
from workers.contracts.identity import event_hash
from workers.contracts.input_hash import V1, fold
from workers.runtime.reader import Stored, TopicError, read_all


def verify(
    settings: FleetSettings, topic: str = "regime.events", symbol: str | None = None
) -> dict[str, Any]:
    """{"ok", "events", "symbols", "first_break"}: the first event whose links do not hold."""
    heads: dict[str, str] = {}
    events = 0
    for stored in read_all(settings, topic, "OrchestratorEvent"):
        v = stored.value
        if symbol is not None and v["symbol"] != symbol:
            continue
        events += 1
        prov = v["provenance"]
        reason = None
        if prov["prev_event_hash"] != heads.get(v["symbol"], ""):
            reason = f"prev_event_hash {prov['prev_event_hash'][:16]}... does not link to the previous event {heads.get(v['symbol'], '')[:16]}..."
        elif event_hash(v) != prov["event_hash"]:
            reason = "event_hash does not match the event's content"
        if reason is not None:
            return {
                "ok": False,
                "events": events,
                "symbols": len(heads),
                "first_break": {
                    "symbol": v["symbol"],
                    "partition": stored.partition,
                    "offset": stored.offset,
                    "run_id": v["run_id"],
                    "event_type": v["event_type"],
                    "reason": reason,
                },
            }
        heads[v["symbol"]] = prov["event_hash"]
    return {"ok": True, "events": events, "symbols": len(heads), "first_break": None}


def show(settings: FleetSettings, run_id: str) -> dict[str, Any]:
    run: Stored | None = None
    for stored in read_all(settings, "engine.runs", "EngineRunRecord"):
        if stored.value["run_id"] == run_id:
            run = stored
    if run is None:
        raise TopicError(f"no run {run_id} on {settings.topic('engine.runs')}")
    r = run.value
    version = r.get("input_hash_version", V1)
    inputs, digest = [], ""
    partition, start, end = run.partition, r["cut_start_ingest_seq"], r["cut_end_ingest_seq"]
    for stored in read_all(
        settings,
        "market.buffer",
        "RawInputBufferRecord",
        wanted=lambda p, o: p == partition and start <= o <= end,  # decode only the cut
    ):
        event = stored.value["event"]
        if event["symbol"] != r["symbol"]:
            continue
        digest = fold(version, digest, event, stored.value, stored.raw)
        inputs.append(
            {
                "ingest_seq": stored.offset,
                "event_id": event["event_id"],
                "kind": event["kind"],
                "event_ts_ms": event["event_ts_ms"],
            }
        )
    chain = [
        {
            "event_type": s.value["event_type"],
            "partition": s.partition,
            "offset": s.offset,
            "prev_event_hash": s.value["provenance"]["prev_event_hash"],
            "event_hash": s.value["provenance"]["event_hash"],
        }
        for s in read_all(settings, "regime.events", "OrchestratorEvent")
        if s.value["run_id"] == run_id
    ]
    return {
        "run": r,
        "inputs": inputs,
        "input_hash_version": version,
        "input_hash_recomputed": digest,
        "input_hash_matches": digest == r["input_hash"],
        "chain": chain,
    }
