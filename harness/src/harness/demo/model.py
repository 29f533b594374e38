"""The demo's meta-models, trained at start-up with the trainer's own code (primary signals,
the enricher's features, triple-barrier labels, purged walk-forward CV, calibration, the gate).

`train_demo_model` trains "demo-1" on the shipped index bars under the real gate: a model that
cannot show skill is rejected and the enricher keeps the cold-start 0.5. `train_contrast_model`
trains on seeded synthetic bars where the crossover has a learnable failure mode, to show what
a model that earns its place looks like; it is never published (it knows nothing of indices).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workers.config import FleetSettings
from workers.meta_model.training import dataset_from_bars, train
from workers.trainer.report import write_report
from workers.trainer.settings import TrainerSettings

MINUTE_MS = 60_000


@dataclass(frozen=True)
class DemoModel:
    record: dict[str, Any]
    report: dict[str, Any]
    png: Path

    @property
    def live(self) -> bool:
        return bool(self.record["status"] == "live")

    def verdict(self) -> str:
        """One line per gate criterion, as the report states them."""
        lines = [
            f"  {g['verdict'].upper():4} {g['criterion']:16} {g['value']:.3f} ({g['rule']} {g['threshold']:.3f})"
            for g in self.report["gate"]
        ]
        c = self.report["calibration"]
        lines.append(
            f"  held-out calibration: ECE {c['raw']['ece']:.3f} -> {c['calibrated']['ece']:.3f}, "
            f"Brier {c['calibrated']['brier']:.4f} vs the base rate's {c['base_rate_brier']:.4f}"
        )
        return "\n".join(lines)


def train_demo_model(settings: FleetSettings, bars: list[dict[str, Any]], fast: int, slow: int) -> DemoModel:
    """ "demo-1" for the demo strategy's fast/slow crossover on the index history, under the
    trainer's default gate."""
    demo = _with(settings, fast=fast, slow=slow)
    data = dataset_from_bars(demo, bars, provenance={"source": "demo bars (arch S&P 500, NASDAQ)"})
    return _trained(demo, data, "demo-1")


def train_contrast_model(settings: FleetSettings, fast: int, slow: int, seed: int = 11) -> DemoModel:
    """A model on `failure_mode_bars`: the gate accepts it, calibrated."""
    demo = _with(settings, fast=fast, slow=slow)
    bars = failure_mode_bars(seed=seed)
    data = dataset_from_bars(
        demo, bars, provenance={"source": f"seeded synthetic failure-mode bars (seed {seed})"}
    )
    return _trained(demo, data, "demo-synthetic")


def failure_mode_bars(symbols: int = 2, per_symbol: int = 6000, seed: int = 11) -> list[dict[str, Any]]:
    """Minute bars alternating (every 150-450 bars) between a calm trend (drift +-0.4 sigma per
    bar: a crossover catches it and is right) and a volatile mean-reverting range (an OU log
    price pulled back 25 % per bar at 3x the volatility: a crossover chases noise and is
    wrong). The regime is visible in the volatility features, so the failure is learnable."""
    rng = np.random.default_rng(seed)
    bars: list[dict[str, Any]] = []
    for s in range(symbols):
        symbol, log_price, t = f"SYN{s}", math.log(100.0), 1_700_000_000_000
        calm, left, drift, anchor = True, 0, 0.0, log_price
        for _ in range(per_symbol):
            if left == 0:
                calm, left = not calm, int(rng.integers(150, 450))
                drift, anchor = float(rng.choice([-1.0, 1.0])), log_price
            if calm:
                if rng.random() < 0.02:
                    drift = -drift
                log_price += 0.001 * (0.4 * drift + rng.normal())
            else:
                log_price += -0.25 * (log_price - anchor) + 0.003 * rng.normal()
            left -= 1
            t += MINUTE_MS
            close = math.exp(log_price)  # libm: the same bits on every CPU (numpy's exp is not)
            bar = {
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": 1000.0,
                "interval_ms": MINUTE_MS,
            }
            bars.append(
                {
                    "event_id": f"{symbol}-{t}",
                    "symbol": symbol,
                    "event_ts_ms": t,
                    "kind": "BAR",
                    "bar": bar,
                    "source": "synthetic",
                }
            )
    return bars


def _with(settings: FleetSettings, **update: Any) -> FleetSettings:
    trainer = TrainerSettings.of(settings).model_copy(update=update)
    return settings.model_copy(update={"trainer": trainer})


def _trained(settings: FleetSettings, data: Any, version: str) -> DemoModel:
    result = train(settings, data, version=version, trained_ts_ms=int(time.time() * 1000))
    png = write_report(result, Path(TrainerSettings.of(settings).report_dir) / version)
    return DemoModel(result.record, result.report, png)
