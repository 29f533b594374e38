"""The projection hook: a core that reads few fields of a large input record can offer a cheap
decoder of just those fields (the scheduler's compiled one reads a buffered record's symbol,
times, kind and tail, not its 30-bar snapshot windows).

It is optional: the runtime asks `projection_of(processor, topic)`. A projection takes the
record's value as stored and returns either a mapping that holds, for every field the core
reads, exactly what the full decode with the topic's schema would hold, or None: it cannot
vouch (another schema version, Confluent framing, anything unusual), and the runtime decodes
the record in full. So it never dead-letters: every decode error and its message stay the full
decoder's, and a core's outputs are those of the full decode (its tests prove that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Projection = Callable[[bytes], Mapping[str, Any] | None]


def projection_of(processor: object, topic: str) -> Projection | None:
    """The core's projection of `topic`'s values (its `projections` attribute), if it offers one."""
    projections: Mapping[str, Projection] = getattr(processor, "projections", {})
    return projections.get(topic)
