"""The batch hook: a core that can take consumed records as bytes, many at once, without the
runtime decoding them one by one (ingest's compiled path, the scheduler's projected one).

It is optional: the runtime asks `raw_batch_of(processor)`. A core offering it still
implements `process`, which stays the reference: for every record the hook takes, its outputs
must be exactly those `process` would return for the decoded record, in the same order, with
the same state changes, and each output at most `max_bytes` as Checkpoint.emit counts it. An
output is either encoded already (`Encoded`, produced as it is) or an `Output` the runtime
encodes. The hook stops at the first record it cannot vouch for; the runtime decodes that one
and calls `process`, then offers the hook the rest, so a hook with state writes it to its
stores before it returns. The runtime journals the stores over the whole call: a hook that
raises leaves no change behind, and its records go the per-record way. No operator gate
applies to a hook's outputs (the kill switch touches only the enricher's), so a core whose
outputs a gate changes does not offer the hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from workers.processing.records import Output, RawHeaders
from workers.state import StateStore

# An output as the producer takes it: (logical topic, key, value, headers, partition).
Encoded = tuple[str, bytes, bytes, list[tuple[str, bytes]], int]
# A partition's stores (name -> view), as `process` gets them.
StoresFor = Callable[[int], Mapping[str, StateStore]]


class RawMessage(Protocol):
    """What the hook reads of a consumed record: confluent-kafka's Message has these."""

    def error(self) -> object | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> RawHeaders | None: ...


class RawBatch(Protocol):
    def __call__(
        self,
        messages: Sequence[RawMessage],
        start: int,
        topic: str,
        now_ms: int,
        max_bytes: int,
        stores: StoresFor,
    ) -> list[Sequence[Encoded | Output]]:
        """Outputs of messages[start], messages[start + 1], ... for as long as it can take them
        (all of one topic: `topic`, the logical name of messages[start]'s); [] takes none."""
        ...


def raw_batch_of(processor: object) -> RawBatch | None:
    """The core's batch hook (its `raw_batch` attribute), if it offers one."""
    hook: RawBatch | None = getattr(processor, "raw_batch", None)
    return hook
