"""Type stubs of the compiled ingest path (src/lib.rs)."""

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

