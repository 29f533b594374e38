"""Type stubs of the compiled paths (src/lib.rs): ingest's Wrapper, the scheduler's BufferProjector,
Serde's Codec."""

from typing import Any

class Wrapper:
    def __init__(
        self,
        output_topic: str,
        raw_prefix: bytes,
        buffer_prefix: bytes,
        min_ts_ms: int,
        max_ts_ms: int,
        max_future_ms: int,
    ) -> None: ...
    def wrap(
        self, messages: list[Any], start: int, source_topic: str, now_ms: int, max_bytes: int
    ) -> list[tuple[str, tuple[str, bytes, bytes, list[tuple[str, bytes]], int]]]: ...

class BufferProjector:
    def __init__(self, buffer_prefix: bytes) -> None: ...
    # Serde().decode("RawInputBufferRecord", value) without the event's trade, quote, bar and
    # source and snapshot_inputs' window: {"event": {"event_id", "symbol", "event_ts_ms", "kind",
    # "snapshot_inputs": {"as_of_ts_ms"} | None}, "source_topic", "source_partition",
    # "source_offset", "ingest_ts_ms", "correlation_id"}. None where it cannot vouch for that
    # (not bytes, another schema or framing, anything the decode would refuse): decode in full.
    def project(self, value: object) -> dict[str, Any] | None: ...
    # The v2 input hash folded one buffered record on: sha256(previous, then the event's Avro
    # bytes as stored), hex; None where the Python fold would not slice them (decode in full).
    def digest_v2(self, previous: str, value: object) -> str | None: ...

class Codec:
    # `schema`: a contract's JSON schema as Python objects, logical types removed; ValueError for
    # a schema it does not support.
    def __init__(self, schema: object) -> None: ...
    # The Avro body fastavro's schemaless_writer would write for `value`, or None: use fastavro.
    def encode(self, value: object) -> bytes | None: ...
    # What fastavro's schemaless_reader reads from the whole `body`, or None: use fastavro.
    def decode(self, body: bytes) -> Any | None: ...
