"""The decoded-value cache: a hot key decodes once, the oldest entry goes first, a write's
keys are forgotten; and the RocksDB store reads through it without ever serving a stale value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.state.cache import DecodedCache
from workers.state.rocksdb import PartitionStore


class Loads:
    """A loader that counts what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, key: str) -> Any:
        self.asked.append(key)
        return None if key.startswith("absent") else {"key": key}


def test_a_key_loads_once_and_is_then_served_from_the_cache() -> None:
    cache, load = DecodedCache(4), Loads()
    first = cache.get("a", load)
    assert cache.get("a", load) is first and first == {"key": "a"}
    assert cache.get("absent", load) is None and cache.get("absent", load) is None
    assert load.asked == ["a", "absent"], "an absent key is remembered as absent too"


def test_when_full_the_oldest_entry_goes_first() -> None:
    cache, load = DecodedCache(2), Loads()
    for key in ("a", "b", "a", "c"):  # reading "a" again does not make it younger
        cache.get(key, load)
    assert "a" not in cache and "b" in cache and "c" in cache and len(cache) == 2
    cache.get("a", load)
    assert load.asked == ["a", "b", "c", "a"]


def test_forgotten_and_cleared_keys_load_again() -> None:
    cache, load = DecodedCache(8), Loads()
    for key in ("a", "b", "c"):
        cache.get(key, load)
    cache.forget(["a", "not-cached"])
    assert "a" not in cache and len(cache) == 2
    cache.clear()
    assert len(cache) == 0
    cache.get("b", load)
    assert load.asked == ["a", "b", "c", "b"]


def test_a_cache_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        DecodedCache(0)


def test_a_load_that_fails_caches_nothing() -> None:
    cache = DecodedCache(2)

    def broken(key: str) -> Any:
        raise RuntimeError("corrupt")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert "k" not in cache and len(cache) == 0


def test_rocksdb_reads_are_cached_and_a_write_invalidates_them(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    try:
        store.apply({"a": b'{"v":1}'}, changelog_offset=None, source_offset=None)
        first = store.get("a")
        assert store.get("a") is first, "a hot key decodes once"
        assert store.get("b") is None
        store.apply({"a": b'{"v":2}', "b": b'{"v":3}'}, changelog_offset=None, source_offset=None)
        assert store.get("a") == {"v": 2} and store.get("b") == {"v": 3}
        store.apply({"a": None}, changelog_offset=None, source_offset=None)
        assert store.get("a") is None
    finally:
        store.close()
