"""Online equals offline (c): the purged, embargoed walk-forward splits never let a training
label window overlap a test window or end within the embargo before it, checked against an
independent, pairwise implementation on seeded label windows (ties, long and short labels)."""

from __future__ import annotations

import numpy as np
import pytest

from workers.meta_model.cv import walk_forward


def windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Signal times with ties, and label windows from instant to very long."""
    rng = np.random.default_rng(seed)
    t0 = np.sort(rng.integers(0, n * 10, n)).astype(np.int64)
    t1 = t0 + rng.choice([0, 5, 50, 500, 5000], size=n)
    return t0, t1


def pairwise(t0: np.ndarray, t1: np.ndarray, folds: int, embargo: int) -> list[tuple[list[int], list[int]]]:
    """The definition, one pair at a time: the test set is the k-th of folds + 1 near-equal
    consecutive blocks; a sample trains for it when it starts before the block and its label
    window [t0, t1], widened by the embargo, ends before every test label window starts."""
    n = len(t0)
    sizes = [n // (folds + 1) + (1 if k < n % (folds + 1) else 0) for k in range(folds + 1)]
    bounds = np.cumsum([0, *sizes])
    out = []
    for k in range(1, folds + 1):
        test = list(range(int(bounds[k]), int(bounds[k + 1])))
        if not test:
            continue
        train = [
            i
            for i in range(test[0])
            if all(t1[i] + embargo < t0[j] for j in test)  # no overlap with any test window
        ]
        out.append((train, test))
    return out


@pytest.mark.parametrize(
    ("n", "folds", "embargo", "seed"), [(400, 5, 0, 1), (401, 4, 120, 2), (97, 7, 3000, 3)]
)
def test_walk_forward_equals_the_pairwise_definition(n: int, folds: int, embargo: int, seed: int) -> None:
    t0, t1 = windows(n, seed)
    got = [(f.train.tolist(), f.test.tolist()) for f in walk_forward(t0, t1, folds, embargo)]
    assert got == pairwise(t0, t1, folds, embargo)
    purged = 0
    for train, test in got:
        start, end = t0[test].min(), t1[test].max()
        for i in train:  # no training label window meets the test period, embargo included
            assert t1[i] + embargo < start and not (t0[i] <= end and t1[i] >= start)
        purged += test[0] - len(train)
    assert purged > 0  # the seeded long labels did need purging
