"""Where training data comes from: the live outcomes (with the enriched signals they label),
market.buffer bars (with regime.events) over an offset range, or a file of bars."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from workers.config import FleetSettings
from workers.enricher.processor import EnricherProcessor
from workers.meta_model.training import Dataset, TrainingError, dataset_from_bars, dataset_from_outcomes
from workers.runtime.reader import read_all
from workers.topics import BUFFER, ENRICHED, EVENTS, OUTCOMES


def from_outcomes(settings: FleetSettings) -> Dataset:
    """Every outcome on signals.outcomes joined with its enriched signal's recorded features."""
    enriched = [s.value for s in read_all(settings, ENRICHED, "EnrichedSignalEvent", skip_undecodable=True)]
    outcomes = [s.value for s in read_all(settings, OUTCOMES, "SignalOutcome", skip_undecodable=True)]
    if not outcomes:
        raise TrainingError(f"{settings.topic(OUTCOMES)} holds no outcomes yet")
    names = EnricherProcessor(settings).feature_names
    provenance = {"source": "outcomes", "outcomes_topic": settings.topic(OUTCOMES), "enriched": len(enriched)}
    return dataset_from_outcomes(settings, names, enriched, outcomes, provenance)


def from_buffer(settings: FleetSettings, start: int | None = None, end: int | None = None) -> Dataset:
    """The bars on market.buffer with offsets in [start, end] (every partition), and the regime
    decisions published for them."""

    def wanted(partition: int, offset: int) -> bool:
        return (start is None or offset >= start) and (end is None or offset <= end)

    bars: list[dict[str, Any]] = []
    ranges: dict[int, tuple[int, int]] = {}
    for s in read_all(settings, BUFFER, "RawInputBufferRecord", wanted=wanted, skip_undecodable=True):
        if s.value["event"]["kind"] == "BAR":
            bars.append(s.value["event"])
            low, high = ranges.get(s.partition, (s.offset, s.offset))
            ranges[s.partition] = (min(low, s.offset), max(high, s.offset))
    if not bars:
        raise TrainingError(f"no bars in {settings.topic(BUFFER)} offsets [{start}, {end}]")
    regimes = [s.value for s in read_all(settings, EVENTS, "OrchestratorEvent", skip_undecodable=True)]
    provenance = {"source": "market.buffer", "topic": settings.topic(BUFFER), "offsets": ranges}
    return dataset_from_bars(settings, bars, regimes, provenance)


def from_file(settings: FleetSettings, path: Path) -> Dataset:
    """JSON lines of RawMarketEvents (BAR), or CSV with columns
    symbol,ts_ms,open,high,low,close,volume. Parquet is not read (no pyarrow dependency)."""
    if not path.exists():
        raise TrainingError(f"{path} does not exist")
    data = path.read_bytes()
    provenance = {"source": "file", "path": str(path), "sha256": hashlib.sha256(data).hexdigest()}
    text = data.decode("utf-8", "replace")
    if path.suffix.lower() == ".csv":
        bars = [_csv_bar(row, n) for n, row in enumerate(csv.DictReader(text.splitlines()), start=2)]
    else:
        bars = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    bars.append(json.loads(line))
                except ValueError as exc:
                    raise TrainingError(f"{path}:{n}: not a JSON line: {exc}") from exc
    return dataset_from_bars(settings, [b for b in bars if b.get("kind") == "BAR"], (), provenance)


def _csv_bar(row: dict[str, str], line: int) -> dict[str, Any]:
    try:
        close = float(row["close"])
        return {
            "event_id": f"{row['symbol']}-{row['ts_ms']}",
            "symbol": row["symbol"],
            "event_ts_ms": int(row["ts_ms"]),
            "kind": "BAR",
            "bar": {
                "open": float(row.get("open") or close),
                "high": float(row.get("high") or close),
                "low": float(row.get("low") or close),
                "close": close,
                "volume": float(row.get("volume") or 0.0),
                "interval_ms": 0,
            },
        }
    except (KeyError, ValueError) as exc:
        raise TrainingError(f"line {line}: needs symbol, ts_ms and a numeric close: {exc}") from exc
