"""Hysteresis: confirm a regime switch only after enough consistent evidence. Pure.

Decisions for one run, given the observed (truth-mode) regime and confidence:
  INIT    no state yet: the observed regime becomes current.
  HOLD    observed equals current (a pending candidate is dropped), or a different
          regime was observed with confidence below `min_confidence` and nothing is pending.
  PENDING a candidate is accumulating: `progress` consecutive agreeing runs so far.
  SWITCH  the candidate reached `progress_required` consecutive runs: it becomes current.
A weak observation (confidence below the band) neither advances nor resets a candidate.
A different candidate restarts progress at 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workers.regime.classifier import Params, RegimeOutput, run
from workers.regime.snapshot import Snapshot


@dataclass(frozen=True)
class HysteresisParams:
    progress_required: int = 3
    min_confidence: float = 0.0


@dataclass(frozen=True)
class HysteresisState:
    symbol: str
    current_regime: str
    candidate_regime: str | None
    progress: int
    progress_required: int
    anchor_ts_ms: int  # engine_timestamp_ms at which current_regime was confirmed
    engine_timestamp_ms: int  # of the last run folded in
    run_id: str


@dataclass(frozen=True)
class HysteresisDecision:
    decision: str  # INIT | HOLD | PENDING | SWITCH
    current_regime: str
    candidate_regime: str | None
    progress: int
    progress_required: int

    def as_record(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "current_regime": self.current_regime,
            "candidate_regime": self.candidate_regime,
            "progress": self.progress,
            "progress_required": self.progress_required,
        }


def step(
    observed: RegimeOutput,
    state: HysteresisState | None,
    params: HysteresisParams,
    *,
    symbol: str,
    engine_timestamp_ms: int,
    run_id: str,
) -> tuple[HysteresisDecision, HysteresisState]:
    """Fold one observation into the state."""
    required = params.progress_required
    if state is None:
        new = HysteresisState(
            symbol, observed.regime, None, 0, required, engine_timestamp_ms, engine_timestamp_ms, run_id
        )
        return _decision("INIT", new), new
    if observed.regime == state.current_regime:
        new = replace(
            state,
            candidate_regime=None,
            progress=0,
            engine_timestamp_ms=engine_timestamp_ms,
            run_id=run_id,
            progress_required=required,
        )
        return _decision("HOLD", new), new
    if observed.confidence < params.min_confidence:
        new = replace(
            state, engine_timestamp_ms=engine_timestamp_ms, run_id=run_id, progress_required=required
        )
        return _decision("PENDING" if new.candidate_regime else "HOLD", new), new
    progress = state.progress + 1 if observed.regime == state.candidate_regime else 1
    if progress >= required:
        new = replace(
            state,
            current_regime=observed.regime,
            candidate_regime=None,
            progress=0,
            anchor_ts_ms=engine_timestamp_ms,
            engine_timestamp_ms=engine_timestamp_ms,
            run_id=run_id,
            progress_required=required,
        )
        return _decision("SWITCH", new), new
    new = replace(
        state,
        candidate_regime=observed.regime,
        progress=progress,
        engine_timestamp_ms=engine_timestamp_ms,
        run_id=run_id,
        progress_required=required,
    )
    return _decision("PENDING", new), new


def run_with_hysteresis(
    snapshot: Snapshot,
    state: HysteresisState | None,
    *,
    symbol: str,
    engine_timestamp_ms: int,
    run_id: str,
    params: Params | None = None,
    hysteresis: HysteresisParams | None = None,
) -> tuple[RegimeOutput, HysteresisDecision, HysteresisState]:
    observed = run(snapshot, params or Params())
    decision, new_state = step(
        observed,
        state,
        hysteresis or HysteresisParams(),
        symbol=symbol,
        engine_timestamp_ms=engine_timestamp_ms,
        run_id=run_id,
    )
    return observed, decision, new_state


def _decision(kind: str, s: HysteresisState) -> HysteresisDecision:
    return HysteresisDecision(kind, s.current_regime, s.candidate_regime, s.progress, s.progress_required)
