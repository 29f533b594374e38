"""A consumed market.buffer record as confluent-kafka's Message shows it, for the scheduler's
tests of its projection and its batch hook."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Msg:
    raw: bytes
    off: int
    key_: bytes = b"x"
    part: int = 0

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "market.buffer"

    def partition(self) -> int:
        return self.part

    def offset(self) -> int:
        return self.off

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def key(self) -> bytes:
        return self.key_

    def value(self) -> bytes:
        return self.raw

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [("correlation_id", b"c")]
