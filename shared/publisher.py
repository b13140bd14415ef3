"""Publishing events with publisher confirms: a publish returns once the broker
has taken responsibility for the message, or raises."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.events import Envelope
from shared.topology import Topology, event_type, routing_key

CONTENT_TYPE = "application/cloudevents+json"
PUBLISH_TIMEOUT_S = 10.0


def to_message(body: bytes, event_id: str, event_type: str) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        type=event_type,
    )


class Publisher:
    def __init__(self, exchange: AbstractExchange) -> None:
        self._exchange = exchange

    @classmethod
    async def create(cls, channel: AbstractChannel, topology: Topology) -> Publisher:
        return cls(await topology.declare_exchange(channel))

    async def publish(self, envelope: Envelope) -> None:
        await self.publish_encoded(envelope.encode(), envelope.id, routing_key(envelope))

    async def publish_encoded(self, body: bytes, event_id: str, key: str) -> None:
        """Publish under ``key`` (``topology.routing_key``: the event type, with
        a member bucket for member events)."""
        # The channel has confirms on (aio-pika's default): this awaits the ack.
        await self._exchange.publish(
            to_message(body, event_id, event_type(key)),
            routing_key=key,
            timeout=PUBLISH_TIMEOUT_S,
        )
