"""Publishing events with publisher confirms: a publish returns once the broker
has taken responsibility for the message, or raises.

``publish_many`` publishes a batch (the outbox relay's) in one write to the
broker (one per megabyte of bodies) and awaits the confirms together.
aio-pika publishes one message per channel-lock round, writer wake-up and
socket write, and builds a Message for each: that was most of the outbox
relay's cost, itself ~30 % of the ingest process's CPU (docs/performance.md,
"Ingest", session 5).
The batch goes through aiormq's own channel, with its own bookkeeping of
delivery tags and confirms, so acks, nacks, returns and a channel that closes
reach each message exactly as they do for a single publish.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.header import ContentHeader

from shared.events import Envelope
from shared.topology import Topology, event_type, routing_key

CONTENT_TYPE = "application/cloudevents+json"
PUBLISH_TIMEOUT_S = 10.0
# Bodies per socket write in a batch: a batch of large events is written in
# parts, so it is never all in memory twice (rows and frames) at once.
WRITE_BYTES = 1 << 20


class Outgoing(NamedTuple):
    """One encoded event to publish under ``key`` (``topology.routing_key``)."""

    body: bytes
    event_id: str
    key: str


def to_message(body: bytes, event_id: str, event_type: str) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        type=event_type,
    )


def _properties(event_id: str, key: str) -> spec.Basic.Properties:
    # The properties ``to_message`` gives, without building a Message.
    return spec.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value,
        headers={},
        message_id=event_id,
        message_type=event_type(key),
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

    async def publish_many(self, batch: Sequence[Outgoing]) -> list[BaseException | None]:
        """Publish the batch, in its order, and return each message's outcome
        in the same order: None once the broker confirmed it, else why not (a
        nack, the channel closing, no confirm within ``PUBLISH_TIMEOUT_S``).
        Raises when the batch may not have been written at all (the channel
        is closed or closes): then none of it counts as published."""
        if not batch:
            return []
        # The aiormq channel under aio-pika's, as ``Exchange.publish`` takes it
        # (a robust channel waits here for its connection to be back).
        channel = await self._exchange.channel.get_underlay_channel()  # type: ignore[attr-defined]
        if not isinstance(channel, aiormq.Channel) or not channel.publisher_confirms:
            # Not the channel this was written for: one publish at a time.
            return await self._one_by_one(batch)
        confirms = await self._send(channel, batch)
        _, pending = await asyncio.wait(confirms, timeout=PUBLISH_TIMEOUT_S)
        for confirm in pending:
            # A confirm that comes later is ignored (aiormq logs it at debug);
            # the row goes again, and consumers absorb the repeat.
            confirm.cancel()
        return [_outcome(confirm) for confirm in confirms]

    async def _send(
        self, channel: aiormq.Channel, batch: Sequence[Outgoing]
    ) -> list[asyncio.Future[object]]:
        """Register a confirm per message and hand the writer the batch as one
        frame sequence (one socket write per ``WRITE_BYTES`` of bodies); return
        the confirms. What aiormq's ``basic_publish`` does for one message,
        under the same channel lock, for all of them."""
        confirms: list[asyncio.Future[object]] = []
        async with asyncio.timeout(PUBLISH_TIMEOUT_S), channel.lock:
            start = 0
            while start < len(batch):
                end, size = start, 0
                while end < len(batch) and (end == start or size < WRITE_BYTES):
                    size += len(batch[end].body)
                    end += 1
                written = await self._enqueue(channel, batch[start:end], confirms)
                # As in basic_publish, the lock is held until the writer has
                # written the frames, so the tags reach the broker in their
                # order; the wait also lets the socket's flow control slow the
                # relay down, and keeps one part of a large batch in memory.
                await written
                start = end
        return confirms

    async def _enqueue(
        self,
        channel: aiormq.Channel,
        part: Sequence[Outgoing],
        confirms: list[asyncio.Future[object]],
    ) -> asyncio.Future[object]:
        """Put one part of a batch in the writer's queue, its confirms added
        to ``confirms``; the future the writer completes once it wrote it."""
        frames: list[Any] = []
        added: list[asyncio.Future[object]] = []
        first_tag = channel.delivery_tag + 1
        written: asyncio.Future[object] = channel.create_future()
        try:
            for body, event_id, key in part:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                confirm = channel.create_future()
                channel.confirmations[tag] = confirm
                channel.message_id_delivery_tag[event_id] = tag
                confirm.add_done_callback(functools.partial(_forget, channel, event_id, tag))
                added.append(confirm)
                frames.append(
                    spec.Basic.Publish(
                        exchange=self._exchange.name, routing_key=key, mandatory=True
                    )
                )
                frames.append(
                    ContentHeader(properties=_properties(event_id, key), body_size=len(body))
                )
                frames.extend(channel._split_body(body))
            # (The writer's queue is bounded: a full one holds us here.)
            await channel.write_queue.put(
                ChannelFrame.marshall(
                    frames=frames, channel_number=channel.number, drain_future=written
                )
            )
        except BaseException:
            # This part never reached the writer: its delivery tags are free
            # again (the lock is held: nobody took a later one).
            channel.delivery_tag = first_tag - 1
            for tag, confirm in enumerate(added, start=first_tag):
                channel.confirmations.pop(tag, None)
                confirm.cancel()
            written.cancel()
            raise
        confirms.extend(added)
        return written

    async def _one_by_one(self, batch: Sequence[Outgoing]) -> list[BaseException | None]:
        outcomes = await asyncio.gather(
            *(self.publish_encoded(*message) for message in batch), return_exceptions=True
        )
        return [o if isinstance(o, BaseException) else None for o in outcomes]


def _forget(channel: aiormq.Channel, event_id: str, tag: int, _: object) -> None:
    # The id's tag is needed only until its confirm (or return) came.
    if channel.message_id_delivery_tag.get(event_id) == tag:
        channel.message_id_delivery_tag.pop(event_id)


def _outcome(confirm: asyncio.Future[object]) -> BaseException | None:
    if not confirm.done() or confirm.cancelled():
        return TimeoutError("no confirm from the broker in time")
    return confirm.exception()
