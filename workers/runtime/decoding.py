"""A consumed message as the Record a core sees: decoded with its topic's value schema, or by
the core's projection of that topic where it offers one and can vouch for the record
(workers/processing/projection.py)."""

from __future__ import annotations

from confluent_kafka import Message

from workers.contracts import DecodeError
from workers.processing import Record
from workers.processing.projection import Projection, projection_of
from workers.runtime.context import RuntimeContext
from workers.runtime.reader import record_of


class Decoder:
    def __init__(self, ctx: RuntimeContext, processor: object = None) -> None:
        self.ctx = ctx
        self.projections: dict[str, Projection] = {}
        for topic in ctx.spec.inputs:
            projection = projection_of(processor, topic)
            if projection is not None:
                self.projections[topic] = projection

    def decode(self, msg: Message) -> Record | DecodeError | None:
        """The message as a decoded Record, the reason it does not decode, or None (an event)."""
        if msg.error() is not None:
            return None
        topic = self.ctx.logical(msg.topic())
        schema = self.ctx.topology.topics[topic].value_schema
        if not schema:
            return record_of(msg, topic)
        projection = self.projections.get(topic)
        if projection is not None:
            projected = projection(msg.value() or b"")
            if projected is not None:
                return record_of(msg, topic, projected)
        try:
            value = self.ctx.serde.decode(
                schema, msg.value() or b"", topic=topic, partition=msg.partition(), offset=msg.offset()
            )
        except DecodeError as exc:
            return exc
        return record_of(msg, topic, value)

    def undecoded(self, msg: Message) -> Record:
        """The record of a message whose value did not decode (its bytes, for the dead letter)."""
        return record_of(msg, self.ctx.logical(msg.topic()))
