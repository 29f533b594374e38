"""Triple-barrier labels (hand-checked; vectorised == incremental on real data), purged
walk-forward CV (no leakage, the embargo holds), scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.meta_model.cv import auc, walk_forward
from workers.meta_model.labels import LOWER, UPPER, VERTICAL, Barriers, OpenSignal, label_path, label_paths

B = Barriers(profit_taking=2.0, stop_loss=1.0, max_hold=4)
SIGMA = 0.01  # barriers: long at 100 -> upper 100*e^0.02 = 102.02, lower 100*e^-0.01 = 99.005


def incremental(entry: float, direction: int, sigma: float | None, prices: list[float]):
    open_ = OpenSignal.open(entry, direction, sigma, B)
    for i, p in enumerate(prices):
        done = open_.step(p, 1000 * i, B)
        if done:
            return done
    return None


@pytest.mark.parametrize(
    ("direction", "prices", "label", "barrier", "index"),
    [
        (1, [100.5, 101.0, 102.1, 90.0], 1, UPPER, 2),  # profit taken on the third
        (1, [100.5, 99.0, 102.1, 90.0], 0, LOWER, 1),  # stopped out first
        (1, [100.5, 100.2, 100.1, 100.3], 1, VERTICAL, 3),  # time's up, above entry
        (1, [100.5, 100.2, 100.1, 99.9], 0, VERTICAL, 3),  # time's up, below entry
        (-1, [99.5, 98.5, 98.1, 98.0], 1, LOWER, 3),  # short: profit below at 100*e^-0.02 = 98.02
        (-1, [100.2, 101.1, 99.0, 99.0], 0, UPPER, 1),  # short: stop above at 100*e^0.01 = 101.005
    ],
)
def test_hand_checked_barriers(
    direction: int, prices: list[float], label: int, barrier: str, index: int
) -> None:
    ts = np.arange(len(prices)) * 1000
    vectorised = label_path(100.0, direction, SIGMA, np.array(prices), ts, B)
    assert vectorised is not None and (vectorised.label, vectorised.barrier, vectorised.index) == (
        label,
        barrier,
        index,
    )
    assert incremental(100.0, direction, SIGMA, prices) == vectorised


def test_unresolved_and_without_sigma() -> None:
    assert label_path(100.0, 1, SIGMA, np.array([100.1, 100.2]), np.array([0, 1]), B) is None
    only_time = label_path(100.0, 1, None, np.array([200.0, 1.0, 150.0, 101.0]), np.arange(4), B)
    assert only_time is not None and only_time.barrier == VERTICAL and only_time.label == 1


def test_vectorised_and_incremental_agree_on_real_index_data() -> None:
    from arch.data import sp500

    closes = sp500.load()["Adj Close"].to_numpy()[-2000:]
    ts = np.arange(len(closes)) * 86_400_000
    returns = np.diff(np.log(closes))
    b = Barriers(2.0, 2.0, 20)
    entries = []
    for i in range(30, len(closes) - 1, 7):
        sigma = float(np.sqrt(np.mean(returns[i - 20 : i] ** 2)))
        entries.append((i + 1, float(closes[i]), 1 if i % 2 else -1, sigma))
    vectorised = label_paths(closes, ts, entries, b)
    for (start, entry, direction, sigma), expected in zip(entries, vectorised, strict=True):
        open_ = OpenSignal.open(entry, direction, sigma, b)
        got = None
        for price, when in zip(closes[start:], ts[start:], strict=False):
            got = open_.step(float(price), int(when), b)
            if got:
                break
        assert got == expected
    resolved = [o for o in vectorised if o is not None]
    assert {o.barrier for o in resolved} == {UPPER, LOWER, VERTICAL} and len(resolved) > 250


def test_walk_forward_purges_overlapping_labels_and_keeps_the_embargo() -> None:
    rng = np.random.default_rng(3)
    t0 = np.sort(rng.integers(0, 1_000_000, size=400))
    t1 = t0 + rng.integers(1, 50_000, size=400)  # label windows of up to 50 s
    embargo = 10_000
    folds = list(walk_forward(t0, t1, folds=5, embargo_ms=embargo))
    assert len(folds) == 5
    for fold in folds:
        start = t0[fold.test[0]]
        assert fold.train.size and fold.train.max() < fold.test[0]  # only the past
        assert np.all(t1[fold.train] < start - embargo)  # no label reaches the test period or the embargo
        # and nothing more than that was dropped
        before = np.arange(fold.test[0])
        assert set(fold.train) == {i for i in before if t1[i] < start - embargo}


def test_walk_forward_needs_time_order() -> None:
    with pytest.raises(ValueError, match="time order"):
        list(walk_forward(np.array([2, 1]), np.array([3, 2]), 2, 0))


def test_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # with ties
    pairs = [(a, b) for a in s[y == 1] for b in s[y == 0]]
    expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert auc(y, s) == pytest.approx(expected)
    assert math.isnan(auc([1, 1], [0.2, 0.3]))
