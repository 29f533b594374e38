"""One store suite, run against both backends (memory and RocksDB) through one factory: the
view's reads and writes, commit, rollback, key order, the codec, corruption, offsets, rebuild."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.state import (
    CHANGELOG_OFFSET,
    SOURCE_OFFSET,
    Codec,
    CommittedStore,
    JsonCodec,
    StoreCorruption,
    StoreError,
    StoreView,
)
from workers.state.memory import MemoryStore
from workers.state.rocksdb import PartitionStore

Open = Callable[..., CommittedStore]  # open(name="main", codec=None): a store of this backend


@pytest.fixture(params=["memory", "rocksdb"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Open]:
    opened: list[PartitionStore] = []

    def open_(name: str = "main", codec: Codec | None = None) -> CommittedStore:
        if request.param == "memory":
            return MemoryStore(codec)
        store = PartitionStore(tmp_path / name, codec=codec)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        with contextlib.suppress(Exception):  # a test may have closed it already
            store.close()


def commit(
    store: CommittedStore, view: StoreView, *, changelog: int | None = None, source: int | None = None
):
    """Step 5 of a checkpoint, as the runtime does it: the view's changes into the store."""
    changes = view.take_changes()
    store.apply(changes, changelog_offset=changelog, source_offset=source)
    return changes


def seeded(open_store: Open, values: dict[str, Any]) -> CommittedStore:
    store = open_store()
    view = StoreView(store)
    for key, value in values.items():
        view.put(key, value)
    commit(store, view)
    return store


def test_a_view_reads_committed_state_and_its_own_writes(open_store: Open) -> None:
    store = seeded(open_store, {"a": {"v": 1}, "b": {"v": 2}})
    view = StoreView(store)
    assert view.get("a") == {"v": 1} and view.get("missing", "dflt") == "dflt"
    view.put("c", {"v": 3})
    view.put("b", {"v": 20})
    view.delete("a")
    assert view.get("a") is None and view.get("a", "gone") == "gone"
    assert view.get("b") == {"v": 20} and view.get("c") == {"v": 3}
    assert view.keys() == ["b", "c"]


def test_pending_changes_are_invisible_to_the_committed_store_until_applied(open_store: Open) -> None:
    store = seeded(open_store, {"a": {"v": 1}})
    view = StoreView(store)
    view.put("b", {"v": 2})
    view.delete("a")
    assert store.get("b") is None and store.get("a") == {"v": 1}
    assert [k for k, _ in store.items()] == ["a"]
    assert StoreView(store).keys() == ["a"], "another view sees only what was committed"
    commit(store, view)
    assert store.get("a") is None and store.get("b") == {"v": 2}
    assert list(store.items()) == [("b", {"v": 2})]
    assert view.pending == {} and view.keys() == ["b"]


def test_changes_are_the_codec_s_bytes_with_tombstones_for_deletes(open_store: Open) -> None:
    store = seeded(open_store, {"a": {"v": 1}})
    view = StoreView(store)
    view.put("b", {"z": 1, "a": [1.5, "é"]})
    view.delete("a")
    changes = commit(store, view)
    assert changes == {"b": b'{"a":[1.5,"\\u00e9"],"z":1}', "a": None}  # canonical: sorted, ASCII


def test_rollback_undoes_only_the_failed_record_s_writes(open_store: Open) -> None:
    store = seeded(open_store, {"b": {"v": 2}})
    view = StoreView(store)
    view.put("a", {"v": 1})  # an earlier record of the batch
    view.begin_record()
    view.put("a", {"v": 99})
    view.delete("b")
    view.put("c", {"v": 3})
    view.rollback_record()
    assert view.get("a") == {"v": 1} and view.get("b") == {"v": 2} and view.get("c") is None
    assert commit(store, view) == {"a": b'{"v":1}'}
    assert store.get("a") == {"v": 1} and store.get("b") == {"v": 2}


def test_a_committed_batch_can_no_longer_be_rolled_back(open_store: Open) -> None:
    store = open_store()
    view = StoreView(store)
    view.put("a", {"v": 1})
    view.begin_record()
    view.put("a", {"v": 2})
    commit(store, view)
    view.rollback_record()  # the record's writes are committed: nothing to undo
    assert view.get("a") == {"v": 2} and view.take_changes() == {}


def test_a_discarded_batch_leaves_the_store_as_it_was(open_store: Open) -> None:
    store = seeded(open_store, {"a": {"v": 1}})
    view = StoreView(store)
    view.put("a", {"v": 2})
    view.discard()
    assert view.get("a") == {"v": 1} and commit(store, view) == {}


def test_prefix_iteration_is_in_key_order_and_stays_inside_the_prefix(open_store: Open) -> None:
    keys = ["sym/b", "sym/é", "s", "sym/a", "sym0", "syn/x", "sym/aa", "sym/z"]
    store = seeded(open_store, {k: {"k": k} for k in keys})
    store.apply({}, changelog_offset=7, source_offset=3)  # metadata never shows as data
    assert [k for k, _ in store.items("sym/")] == ["sym/a", "sym/aa", "sym/b", "sym/z", "sym/é"]
    assert [k for k, _ in store.items()] == sorted(keys)
    assert dict(store.items("sym/a")) == {"sym/a": {"k": "sym/a"}, "sym/aa": {"k": "sym/aa"}}
    assert list(store.items("nothing")) == []
    view = StoreView(store)
    view.put("sym/ab", {})
    view.delete("sym/aa")
    assert view.keys("sym/a") == ["sym/a", "sym/ab"]


class _Counter:
    """A codec of its own (not JSON): {"n": int} as b"n=<int>"; an older count never wins."""

    def encode(self, value: Any) -> bytes:
        return f"n={value['n']}".encode()

    def decode(self, data: bytes) -> Any:
        if not data.startswith(b"n="):
            raise StoreCorruption(f"not a count: {data!r}")
        return {"n": int(data[2:])}

    def accept(self, current: Any, new: Any) -> bool:
        return current is None or new["n"] >= current["n"]


@pytest.mark.parametrize(
    "codec, value",
    [(JsonCodec(), {"nested": {"list": [1, 2.5, None, True]}, "text": "ünï"}), (_Counter(), {"n": 42})],
)
def test_values_round_trip_through_the_store_s_codec(open_store: Open, codec: Codec, value: Any) -> None:
    store = open_store(codec=codec)
    view = StoreView(store)
    view.put("k", value)
    changes = commit(store, view)
    assert changes == {"k": codec.encode(value)}
    assert store.get("k") == value and list(store.items()) == [("k", value)]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b"7"])
def test_bytes_that_break_the_codec_are_store_corruption(open_store: Open, raw: bytes) -> None:
    store = open_store()
    with pytest.raises(StoreCorruption):  # refused when written, or when read: never a value
        store.apply({"k": raw}, changelog_offset=None, source_offset=None)
        store.get("k")


def test_offsets_are_kept_per_store_and_only_moved_when_given(open_store: Open) -> None:
    store = open_store()
    assert store.meta(CHANGELOG_OFFSET) is None and store.meta(SOURCE_OFFSET) is None
    store.apply({"a": b"{}"}, changelog_offset=10, source_offset=4)
    assert (store.meta(CHANGELOG_OFFSET), store.meta(SOURCE_OFFSET)) == (10, 4)
    store.apply({"b": b"{}"}, changelog_offset=12, source_offset=None)
    assert (store.meta(CHANGELOG_OFFSET), store.meta(SOURCE_OFFSET)) == (12, 4)
    assert [k for k, _ in store.items()] == ["a", "b"]


def test_a_store_is_rebuilt_from_its_changelog(open_store: Open) -> None:
    """Whatever a store holds is the sum of its changes in order: a new store that applies
    them (what a restore does) holds the same, the tombstones included."""
    store = open_store("live")
    changelog = []
    for batch in ({"a": 1, "b": 2}, {"a": 3, "c": 4}, {"b": None, "d": 5}):
        view = StoreView(store)
        for key, n in batch.items():
            view.delete(key) if n is None else view.put(key, {"n": n})
        changelog.append(commit(store, view))
    rebuilt = open_store("rebuilt")
    for changes in changelog:
        rebuilt.apply(changes, changelog_offset=None, source_offset=None)
    assert list(rebuilt.items()) == list(store.items()) == [("a", {"n": 3}), ("c", {"n": 4}), ("d", {"n": 5})]


# -- what only one backend does ------------------------------------------------------------


def test_memory_applies_all_or_nothing() -> None:
    store = MemoryStore()
    with pytest.raises(StoreCorruption):
        store.apply({"good": b"{}", "bad": b"nope"}, changelog_offset=5, source_offset=None)
    assert store.get("good") is None and store.meta(CHANGELOG_OFFSET) is None


def test_rocksdb_keeps_data_and_offsets_across_a_reopen(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    store.apply({"a": b'{"v":1}', "b": b'{"v":2}'}, changelog_offset=41, source_offset=9)
    store.apply({"b": None}, changelog_offset=42, source_offset=None)
    store.close()
    again = PartitionStore(tmp_path / "s")
    try:
        assert not again.wiped
        assert list(again.items()) == [("a", {"v": 1})]
        assert (again.meta(CHANGELOG_OFFSET), again.meta(SOURCE_OFFSET)) == (42, 9)
    finally:
        again.close()


def test_rocksdb_held_by_another_owner_is_a_store_error(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    try:
        with pytest.raises(StoreError, match="locked"):
            PartitionStore(tmp_path / "s")
    finally:
        store.close()


def test_a_corrupt_rocksdb_is_wiped_to_be_restored(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.mkdir()
    (path / "CURRENT").write_text("garbage\n")
    store = PartitionStore(path)
    try:
        assert store.wiped and list(store.items()) == [] and store.meta(CHANGELOG_OFFSET) is None
    finally:
        store.close()


def test_rocksdb_wipe_forgets_data_offsets_and_cached_values(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    try:
        store.apply({"a": b'{"v":1}'}, changelog_offset=3, source_offset=1)
        assert store.get("a") == {"v": 1}  # now cached
        store.wipe()
        assert store.wiped and store.get("a") is None and store.meta(CHANGELOG_OFFSET) is None
    finally:
        store.close()
