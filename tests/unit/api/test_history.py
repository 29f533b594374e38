"""The versioned history: the latest version at or before T, as published by K, and errors,
never wrong answers, past what is retained."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workers.api.history import (
    KNOWN_NOW,
    BeyondRetention,
    NothingAsOf,
    NotYetPublished,
    SymbolHistory,
    UnknownSymbol,
    Version,
    VersionedTable,
)


def version(ts: int, published: int, offset: int, rank: int = 1) -> Version:
    return Version(ts, rank, published, 0, offset, offset, {"ts": ts})


def test_the_latest_version_at_or_before_t():
    h = SymbolHistory()
    for i, ts in enumerate((100, 200, 300)):
        h.add(version(ts, 1000 + i, i))
    assert h.as_of("S", 250).valid_from_ms == 200
    assert h.as_of("S", 300).valid_from_ms == 300
    assert h.as_of("S", 10**12).valid_from_ms == 300
    with pytest.raises(NothingAsOf):
        h.as_of("S", 99)


def test_known_at_leaves_out_what_was_published_later():
    h = SymbolHistory()
    h.add(version(100, 1000, 0))
    h.add(version(200, 5000, 1))  # published late
    assert h.as_of("S", 250, 4999).valid_from_ms == 100
    assert h.as_of("S", 250, 5000).valid_from_ms == 200
    with pytest.raises(NotYetPublished):
        h.as_of("S", 250, 999)


def test_a_late_version_is_inserted_in_event_time_and_published_times_need_not_be_monotone():
    h = SymbolHistory()
    h.add(version(300, 3000, 0))
    h.add(version(100, 4000, 1))  # late: valid earlier, published after
    assert h.as_of("S", 150).valid_from_ms == 100
    assert h.as_of("S", 350, 3500).valid_from_ms == 300
    with pytest.raises(NotYetPublished):
        h.as_of("S", 150, 3500)  # nothing valid at 150 had been published by 3500


def test_a_hysteresis_decision_wins_the_tie_in_engine_time():
    h = SymbolHistory()
    h.add(version(100, 1000, 0, rank=1))
    h.add(version(100, 1000, 1, rank=2))
    assert h.as_of("S", 100).rank == 2


def test_retention_keeps_the_version_valid_at_the_horizon_and_refuses_older_questions():
    table = VersionedTable(retention_ms=1000)
    for i in range(2000):
        table.add("S", version(i * 10, i, i))
    history = table.histories["S"]
    assert history.truncated and len(history) < 2000
    oldest = history.oldest_ms
    assert oldest is not None and oldest <= 19_990 - 1000
    assert table.as_of("S", oldest).valid_from_ms == oldest
    with pytest.raises(BeyondRetention):
        table.as_of("S", oldest - 1)
    with pytest.raises(BeyondRetention):
        table.as_of("S", 19_990, 0)


def test_a_truncated_topic_answers_beyond_retention_not_nothing():
    table = VersionedTable()
    table.add("S", version(500, 1, 0), truncated=True)
    with pytest.raises(BeyondRetention):
        table.as_of("S", 400)
    with pytest.raises(UnknownSymbol):
        table.as_of("T", 400)


def test_the_same_record_read_twice_is_kept_once():
    table = VersionedTable()
    table.add("S", version(1, 1, 7))
    table.add("S", version(1, 1, 7))
    assert table.versions == 1


def brute(versions: list[Version], t: int, k: int | None) -> Version | None:
    ok = [v for v in versions if v.valid_from_ms <= t and (k is None or v.published_ms <= k)]
    return max(ok, key=lambda v: v.key) if ok else None


def test_random_questions_match_a_brute_force_answer():
    rng = random.Random(3)
    for _ in range(50):
        h = SymbolHistory()
        versions = []
        for offset in range(rng.randint(1, 60)):
            v = version(rng.randint(0, 1000), rng.randint(0, 1000), offset, rng.choice((1, 2)))
            versions.append(v)
            h.add(v)
            for _ in range(5):
                t, k = rng.randint(-10, 1010), rng.choice((None, rng.randint(-10, 1010)))
                want = brute(versions, t, k)
                try:
                    got = h.as_of("S", t, k)
                except (NothingAsOf, NotYetPublished):
                    got = None
                assert got == want, (t, k)


def test_long_histories_with_late_publications_match_brute_force():
    """Past a few blocks of versions: whole blocks published after K are skipped, never a
    version that was published by K."""
    rng = random.Random(9)
    h = SymbolHistory()
    versions = []
    for offset in range(700):
        late = rng.random() < 0.1
        v = version(offset * 10, offset * 10 + (5000 if late else 1), offset)
        versions.append(v)
        h.add(v)
    for _ in range(2000):
        t, k = rng.randint(0, 7100), rng.randint(0, 12_100)
        want = brute(versions, t, k)
        try:
            got = h.as_of("S", t, k)
        except (NothingAsOf, NotYetPublished):
            got = None
        assert got == want, (t, k)


def test_many_questions_at_once_answer_as_as_of_does_or_leave_the_question_to_it():
    """as_of_many (the bulk join's chunks): the version `as_of` gives, None only where `as_of`
    misses or must scan for a late publication; versions added between two calls are seen."""
    rng = random.Random(5)
    for monotone in (True, False):
        h, scanned = SymbolHistory(), 0
        for offset in range(400):
            late = not monotone and rng.random() < 0.2  # and out of order in event time:
            shift = rng.choice((0, 5) if monotone else (0, 5, -15))
            h.add(version(offset * 10 + shift, offset * 10 + (2000 if late else 1), offset))
            if offset % 50 != 49:
                continue
            t = np.array([rng.randint(-10, offset * 10 + 10) for _ in range(200)])
            k = np.array([rng.choice((KNOWN_NOW, rng.randint(-10, offset * 10 + 2010))) for _ in range(200)])
            for ti, ki, got in zip(t.tolist(), k.tolist(), h.as_of_many(t, k), strict=True):
                try:
                    want: Version | None = h.as_of("S", ti, None if ki == KNOWN_NOW else ki)
                except (NothingAsOf, NotYetPublished):
                    want = None
                assert got == want or (got is None and not monotone), (ti, ki)
                scanned += got is None and want is not None
        assert (scanned > 0) == (not monotone)
