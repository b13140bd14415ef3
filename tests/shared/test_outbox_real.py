"""The transactional outbox and its relay, against the real servers."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from shared.outbox import BATCH, OutboxRelay, enqueue
from shared.publisher import Outgoing, Publisher
from tests.fixtures.probe_service import PROBE
from tests.helpers import eventually, ping

pytestmark = pytest.mark.real


@pytest.fixture
async def probe_queue(amqp, topology):
    channel = await amqp.channel()
    return await topology.declare_queue(channel, PROBE)


@pytest.fixture
async def relay(amqp, pool, topology):
    publisher = await Publisher.create(await amqp.channel(), topology)
    relay = OutboxRelay(pool=pool, schema="probe", publisher=publisher)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    yield relay
    stop.set()
    await asyncio.wait_for(task, 10)


async def received(queue, count, timeout=10.0):
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.02)
            continue
        got.append(message)
    return got


async def test_a_committed_event_is_published_once_and_marked(relay, pool, probe_queue):
    envelope = ping()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, "probe", envelope)
    (message,) = await received(probe_queue, 1)
    assert message.message_id == envelope.id
    assert message.content_type == "application/cloudevents+json"
    await eventually(lambda: _published(pool, envelope.id), what="the row marked published")
    assert await received(probe_queue, 1, timeout=0.5) == []


async def test_a_rolled_back_event_is_never_published(relay, pool, probe_queue):
    async def failing_change() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, "probe", ping())
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    kept = ping()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, "probe", kept)
    messages = await received(probe_queue, 2, timeout=2)
    assert [m.message_id for m in messages] == [kept.id]


async def test_events_keep_their_commit_order(relay, pool, probe_queue):
    envelopes = [ping(f"ok:{i}") for i in range(50)]
    for envelope in envelopes:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, "probe", envelope)
    messages = await received(probe_queue, 50)
    assert [m.message_id for m in messages] == [e.id for e in envelopes]


async def test_a_batch_in_flight_at_once_keeps_its_order(relay, pool, probe_queue):
    # One transaction, more rows than a batch: published concurrently, in
    # two batches, and still received in commit order.
    envelopes = [ping(f"ok:{i}") for i in range(BATCH + 50)]
    async with pool.acquire() as conn, conn.transaction():
        for envelope in envelopes:
            await enqueue(conn, "probe", envelope)
    messages = await received(probe_queue, len(envelopes))
    assert [m.message_id for m in messages] == [e.id for e in envelopes]
    assert await pool.fetchval("SELECT count(*) FROM probe.outbox WHERE published_at IS NULL") == 0


async def test_notify_wakes_the_relay_before_its_safety_poll(amqp, pool, topology, probe_queue):
    """Asserts the mechanism (LISTEN/NOTIFY), not a speed: the relay's safety
    poll is an hour, so only the notification can wake it in this test. (The
    broker delivers a message before the relay has recorded its confirm, so
    the count is awaited, not read at the moment the message arrives.)"""
    publisher = await Publisher.create(await amqp.channel(), topology)
    relay = OutboxRelay(pool=pool, schema="probe", publisher=publisher, safety_poll_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.waiting.wait(), 30)  # idle, listening
        envelope = ping()
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, "probe", envelope)
        (message,) = await received(probe_queue, 1, timeout=30)
        assert message.message_id == envelope.id
        await eventually(lambda: _true(relay.published == 1), what="the relay's count")
        await eventually(lambda: _published(pool, envelope.id), what="the row marked published")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value


async def _published(pool, event_id) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT published_at IS NOT NULL FROM probe.outbox WHERE event_id = $1", event_id
        )
    )


class _RefusingPublisher:
    """Confirms every event but the ones it was told to refuse (a nack)."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.sent: list[str] = []

    async def publish_many(self, batch: list[Outgoing]) -> list[BaseException | None]:
        await asyncio.sleep(0)
        outcomes: list[BaseException | None] = []
        for message in batch:
            if message.event_id in self.refuse:
                outcomes.append(aio_pika.exceptions.DeliveryError(None, None))  # type: ignore[arg-type]
            else:
                self.sent.append(message.event_id)
                outcomes.append(None)
        return outcomes


async def test_a_refused_event_stays_in_the_outbox_and_the_rest_are_marked(pool):
    envelopes = [ping(f"ok:{i}") for i in range(5)]
    async with pool.acquire() as conn, conn.transaction():
        for envelope in envelopes:
            await enqueue(conn, "probe", envelope)
    refused = envelopes[2].id
    publisher = _RefusingPublisher({refused})
    relay = OutboxRelay(pool=pool, schema="probe", publisher=publisher)  # type: ignore[arg-type]
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await relay.drain_once()
    assert not await _published(pool, refused)
    for envelope in envelopes:
        if envelope.id != refused:
            assert await _published(pool, envelope.id)
    # Next time only the refused one goes again.
    publisher.refuse.clear()
    assert await relay.drain_once() == 1
    assert publisher.sent[-1] == refused
    assert await relay.drain_once() == 0


class _BrokenPublisher:
    """The channel went away before the batch could be written."""

    async def publish_many(self, batch: list[Outgoing]) -> list[BaseException | None]:
        await asyncio.sleep(0)
        raise aio_pika.exceptions.ChannelInvalidStateError("closed")


async def test_a_batch_that_could_not_be_sent_stays_in_the_outbox(pool):
    envelopes = [ping(f"ok:{i}") for i in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        for envelope in envelopes:
            await enqueue(conn, "probe", envelope)
    relay = OutboxRelay(pool=pool, schema="probe", publisher=_BrokenPublisher())  # type: ignore[arg-type]
    with pytest.raises(aio_pika.exceptions.ChannelInvalidStateError):
        await relay.drain_once()
    for envelope in envelopes:
        assert not await _published(pool, envelope.id)
    assert relay.published == 0
