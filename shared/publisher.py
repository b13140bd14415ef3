"""Publishing events with publisher confirms: a publish returns once the broker
has taken responsibility for the message, or raises.

``publish_many`` publishes a batch (the outbox relay's) in one write to the
broker (one per megabyte of bodies) and awaits the confirms together.
aio-pika publishes one message per channel-lock round, writer wake-up and
socket write, and builds a Message for each: that was most of the outbox
relay's cost, itself ~30 % of the ingest process's CPU (docs/performance.md,
"Ingest", session 5).
The batch goes through aiormq's own channel, with its own bookkeeping of
delivery tags and confirms, so acks, nacks and returns reach each message
exactly as they do for a single publish; a channel that closes fails the
confirms still awaited. Since session 6 the frames are written directly
rather than built and marshalled as pamqp objects, and the confirms are
plain futures (the channel's own cost two stores and three callbacks each):
the relay's per-message work, ~15 % of ingest's Python work in session 5.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from asyncio import FIRST_COMPLETED
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange
from aiormq.abc import ChannelFrame

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
        try:
            await _confirmed(channel, confirms)
        finally:
            for confirm in confirms:
                # A confirm that comes later is ignored (aiormq logs it at
                # debug); the row goes again, and consumers absorb the repeat.
                confirm.cancel()
            # The ids' tags were needed only until the confirms (or returns).
            tags = channel.message_id_delivery_tag
            for (_, event_id, _), tag in zip(batch, confirms.values(), strict=True):
                if tags.get(event_id) == tag:
                    del tags[event_id]
        closed = channel.is_closed
        return [_outcome(confirm, closed=closed) for confirm in confirms]

    async def _send(
        self, channel: aiormq.Channel, batch: Sequence[Outgoing]
    ) -> dict[asyncio.Future[object], int]:
        """Register a confirm per message and hand the writer the batch as one
        frame sequence (one socket write per ``WRITE_BYTES`` of bodies); return
        the confirms with their delivery tags. What aiormq's ``basic_publish``
        does for one message, under the same channel lock, for all of them."""
        confirms: dict[asyncio.Future[object], int] = {}
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
        confirms: dict[asyncio.Future[object], int],
    ) -> asyncio.Future[object]:
        """Put one part of a batch in the writer's queue, its confirms added
        to ``confirms``; the future the writer completes once it wrote it."""
        loop = asyncio.get_running_loop()
        added: dict[asyncio.Future[object], int] = {}
        first_tag = channel.delivery_tag + 1
        # The channel's own future: a channel that closes before the writer
        # wrote the part fails it at once.
        written: asyncio.Future[object] = channel.create_future()
        try:
            wire = _wire(channel.number, self._exchange.name, part, channel.max_content_size)
            for _, event_id, _ in part:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                # A plain future, not one of the channel's (which each
                # cost two stores and three callbacks): the wait for the
                # confirms watches the channel's closing instead.
                confirm: asyncio.Future[object] = loop.create_future()
                channel.confirmations[tag] = confirm
                channel.message_id_delivery_tag[event_id] = tag
                added[confirm] = tag
            # (The writer's queue is bounded: a full one holds us here.)
            await channel.write_queue.put(
                ChannelFrame(payload=wire, should_close=False, drain_future=written)
            )
        except BaseException:
            # This part never reached the writer: its delivery tags are free
            # again (the lock is held: nobody took a later one).
            channel.delivery_tag = first_tag - 1
            for (_, event_id, _), (confirm, tag) in zip(part, added.items(), strict=False):
                channel.confirmations.pop(tag, None)
                if channel.message_id_delivery_tag.get(event_id) == tag:
                    del channel.message_id_delivery_tag[event_id]
                confirm.cancel()
            written.cancel()
            raise
        confirms.update(added)
        return written

    async def _one_by_one(self, batch: Sequence[Outgoing]) -> list[BaseException | None]:
        outcomes = await asyncio.gather(
            *(self.publish_encoded(*message) for message in batch), return_exceptions=True
        )
        return [o if isinstance(o, BaseException) else None for o in outcomes]


async def _confirmed(channel: aiormq.Channel, confirms: Iterable[asyncio.Future[object]]) -> None:
    """Until every confirm has come, the channel closed (its confirms will not
    come) or ``PUBLISH_TIMEOUT_S`` passed."""
    pending = [confirm for confirm in confirms if not confirm.done()]
    if not pending:
        return
    loop = asyncio.get_running_loop()
    all_in: asyncio.Future[None] = loop.create_future()
    left = len(pending)

    def one_in(_: asyncio.Future[object]) -> None:
        nonlocal left
        left -= 1
        if left == 0 and not all_in.done():
            all_in.set_result(None)

    for confirm in pending:
        confirm.add_done_callback(one_in)
    closing = channel.closing  # an observer of its own, cancelled below
    try:
        await asyncio.wait(
            {all_in, closing}, timeout=PUBLISH_TIMEOUT_S, return_when=FIRST_COMPLETED
        )
    finally:
        closing.cancel()
        all_in.cancel()
        for confirm in pending:
            confirm.remove_done_callback(one_in)


def _outcome(confirm: asyncio.Future[object], *, closed: bool) -> BaseException | None:
    if not confirm.done() or confirm.cancelled():
        if closed:
            return aiormq.exceptions.ChannelInvalidStateError(
                "the channel closed before the confirm"
            )
        return TimeoutError("no confirm from the broker in time")
    return confirm.exception()


_FRAME_END = b"\xce"
_BASIC_PUBLISH = struct.pack(">HHH", 60, 40, 0)  # class, method, reserved
_HEADER_START = struct.pack(">HH", 60, 0)  # class, weight
# The properties every event has (``to_message``): content type, (empty)
# headers and persistent delivery, then its message id and type (which
# pamqp, like AMQP, leaves out when empty).
_FIXED_FLAGS = 0x8000 | 0x2000 | 0x1000
_MESSAGE_ID_FLAG, _TYPE_FLAG = 0x0080, 0x0020
_CONTENT_TYPE = bytes([len(CONTENT_TYPE)]) + CONTENT_TYPE.encode()
_EMPTY_TABLE = struct.pack(">I", 0)
_PERSISTENT = bytes([aio_pika.DeliveryMode.PERSISTENT.value])


def _short(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError("an AMQP short string is at most 255 bytes")
    return bytes([len(raw)]) + raw


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + _FRAME_END


@functools.lru_cache(maxsize=1024)
def _publish_frame(channel: int, exchange: str, key: str) -> bytes:
    # The same few keys come again and again (the event types, member buckets).
    return _frame(1, channel, _BASIC_PUBLISH + _short(exchange) + _short(key) + b"\x01")


def _wire(channel: int, exchange: str, part: Sequence[Outgoing], max_content: int) -> bytes:
    """The frames of ``part``'s publishes, as pamqp marshals the Basic.Publish
    (mandatory), content header and body frames ``basic_publish`` sends (a
    test holds them equal), written directly: building and marshalling the
    pamqp objects was most of what publishing still cost."""
    out: list[bytes] = []
    for body, event_id, key in part:
        out.append(_publish_frame(channel, exchange, key))
        kind = event_type(key)
        flags = _FIXED_FLAGS | (_MESSAGE_ID_FLAG if event_id else 0) | (_TYPE_FLAG if kind else 0)
        header = b"".join(
            (
                _HEADER_START,
                struct.pack(">QH", len(body), flags),
                _CONTENT_TYPE,
                _EMPTY_TABLE,
                _PERSISTENT,
                _short(event_id) if event_id else b"",
                _short(kind) if kind else b"",
            )
        )
        out.append(_frame(2, channel, header))
        for start in range(0, len(body), max_content):
            chunk = body[start : start + max_content]
            out.append(struct.pack(">BHI", 3, channel, len(chunk)))
            out.append(chunk)
            out.append(_FRAME_END)
    return b"".join(out)
