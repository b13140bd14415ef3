"""Batch consumption (shared/consumer.py) against the real RabbitMQ and PostgreSQL.

The probe service's handler, applied to pings in batches: the batch handler
runs it for each event of the batch inside the batch's one transaction, and
records the size of each batch it was given.
"""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from shared import consumer as consumer_module
from shared import dlq
from shared.consumer import BatchHandler, Consumer
from shared.db import Connection
from shared.events import Envelope, Ping
from shared.publisher import Publisher
from shared.service import Runtime
from tests.fixtures.probe_service import PROBE, make_handler
from tests.helpers import eventually, ping

pytestmark = pytest.mark.real

BATCH = 20


class Probe:
    def __init__(self, consumer: Consumer, batches: list[int]) -> None:
        self.consumer = consumer
        self.batches = batches  # the size of each batch the batch handler ran


@pytest.fixture
async def publisher(amqp, topology) -> Publisher:
    return await Publisher.create(await amqp.channel(), topology)


@pytest.fixture
async def queue_ready(amqp, topology) -> None:
    """The queue exists before the consumer starts: what is published first
    waits in it, and reaches the consumer all at once."""
    await topology.declare_queue(await amqp.channel(), PROBE)


@pytest.fixture
def slow_batches(monkeypatch) -> None:
    # A generous wait for the broker's messages to arrive, so that batches
    # form however loaded the machine is (the batches' sizes are asserted).
    monkeypatch.setattr(consumer_module, "BATCH_WAIT_S", 0.5)


@pytest.fixture
async def make_probe(amqp, pool, settings, topology, publisher, slow_batches):
    started: list[Consumer] = []
    runtime = Runtime("probe", settings, pool, amqp, publisher, topology)
    single = make_handler(runtime)

    async def make() -> Probe:
        batches: list[int] = []

        async def each(events: list[Envelope], conn: Connection) -> None:
            batches.append(len(events))
            for event in events:
                await single(event, conn)

        handlers: dict[str, BatchHandler] = {Ping.TYPE: each}
        consumer = Consumer(
            spec=PROBE,
            topology=topology,
            handler=single,
            pool=pool,
            inbox_table="probe.inbox",
            prefetch=4,
            batch_handlers=handlers,
            batch_size=BATCH,
        )
        await consumer.start(amqp)
        started.append(consumer)
        return Probe(consumer, batches)

    yield make
    for consumer in started:
        await consumer.stop(5)


async def effects(pool, event_id: str | None = None) -> int:
    if event_id is None:
        return int(await pool.fetchval("SELECT count(*) FROM probe.effects"))
    return int(
        await pool.fetchval("SELECT count(*) FROM probe.effects WHERE event_id = $1", event_id)
    )


def settled(probe: Probe) -> int:
    return sum(probe.consumer.outcomes.values())


async def until(condition) -> bool:
    return bool(condition())


async def test_waiting_messages_are_applied_in_batches_each_once(
    queue_ready, make_probe, publisher, pool
):
    envelopes = [ping("ok") for _ in range(3 * BATCH)]
    for envelope in envelopes:
        await publisher.publish(envelope)
    probe = await make_probe()
    await eventually(lambda: until(lambda: settled(probe) == len(envelopes)), what="all settled")
    assert probe.consumer.outcomes["ok"] == len(envelopes)
    assert sum(probe.batches) == len(envelopes)
    assert max(probe.batches) > 1  # batched, not one by one
    assert max(probe.batches) <= BATCH
    for envelope in envelopes:
        assert await effects(pool, envelope.id) == 1


async def test_the_same_batch_delivered_twice_is_applied_once(
    queue_ready, make_probe, publisher, pool
):
    envelopes = [ping("ok") for _ in range(BATCH // 2)]
    for _ in range(2):  # the whole batch again, as a redelivery would bring it
        for envelope in envelopes:
            await publisher.publish(envelope)
    probe = await make_probe()
    await eventually(lambda: until(lambda: settled(probe) == 2 * len(envelopes)), what="settled")
    assert probe.consumer.outcomes["ok"] == len(envelopes)
    assert probe.consumer.outcomes["duplicate"] == len(envelopes)
    assert await effects(pool) == len(envelopes)
    # The handler saw each event once, whether the copy was in its batch or the next.
    assert sum(probe.batches) == len(envelopes)

    # And once more, after they were all handled: nothing new happens.
    for envelope in envelopes:
        await publisher.publish(envelope)
    await eventually(lambda: until(lambda: settled(probe) == 3 * len(envelopes)), what="again")
    assert await effects(pool) == len(envelopes)
    assert probe.consumer.outcomes["duplicate"] == 2 * len(envelopes)


async def test_a_poison_event_in_a_batch_is_dead_lettered_and_the_others_applied_once(
    queue_ready, make_probe, publisher, pool, amqp, topology
):
    handled = ping("ok")
    await publisher.publish(handled)
    first = await make_probe()
    await eventually(lambda: until(lambda: settled(first) == 1), what="the first event")
    await first.consumer.stop(5)

    poison = ping("poison")
    good = [ping("ok") for _ in range(6)]
    # Valid, poison, valid, a duplicate of an event handled already, a
    # message that is not even JSON, and an event twice in the same batch.
    for envelope in [*good[:3], poison, *good[3:], handled, good[0]]:
        await publisher.publish(envelope)
    channel = await amqp.channel()
    exchange = await topology.declare_exchange(channel)
    await exchange.publish(
        aio_pika.Message(b"{not json", type=Ping.TYPE, message_id="garbage"),
        routing_key="system.ping",
    )
    probe = await make_probe()
    await eventually(lambda: until(lambda: settled(probe) == 10), what="all ten settled")
    assert probe.consumer.outcomes["ok"] == len(good)
    assert probe.consumer.outcomes["duplicate"] == 2
    assert probe.consumer.outcomes["dead_lettered"] == 2
    for envelope in [*good, handled]:
        assert await effects(pool, envelope.id) == 1
    assert await effects(pool, poison.id) == 0
    # The batch with the poison failed whole and went one by one.
    assert probe.batches[0] > 1
    dead = await dlq.peek(amqp, topology.dead_letter_queue(PROBE))
    reasons = {m.message_id: m.reason for m in dead}
    assert reasons[poison.id] == "poison: Poison"  # the class only, never a value
    assert reasons["garbage"].startswith("contract: not JSON")


async def test_a_batch_committed_but_not_acked_is_redelivered_without_a_second_effect(
    queue_ready, make_probe, publisher, pool, settings, topology
):
    """A process that dies between the commit and the acks: its messages come
    back to the next consumer, which finds every id in the inbox."""
    envelopes = [ping("ok") for _ in range(BATCH // 2)]
    for envelope in envelopes:
        await publisher.publish(envelope)
    runtime_connection = await aio_pika.connect_robust(settings.amqp_url)
    committed = asyncio.Event()
    release = asyncio.Event()
    runtime = Runtime("probe", settings, pool, runtime_connection, publisher, topology)
    single = make_handler(runtime)

    async def stalls_after_its_writes(events: list[Envelope], conn: Connection) -> None:
        for event in events:
            await single(event, conn)
        committed.set()
        await release.wait()

    doomed = Consumer(
        spec=PROBE,
        topology=topology,
        handler=single,
        pool=pool,
        inbox_table="probe.inbox",
        batch_handlers={Ping.TYPE: stalls_after_its_writes},
        batch_size=BATCH,
    )
    await doomed.start(runtime_connection)
    try:
        await asyncio.wait_for(committed.wait(), timeout=60)
        # The broker connection dies with the batch in hand; then the
        # transaction commits, and the acks have nowhere to go.
        await runtime_connection.close()
        release.set()
        await eventually(lambda: _count(pool, len(envelopes)), what="the commit")
    finally:
        release.set()
        await doomed.stop(5)
    probe = await make_probe()
    await eventually(
        lambda: until(lambda: probe.consumer.outcomes["duplicate"] == len(envelopes)),
        what="the redeliveries",
    )
    assert await effects(pool) == len(envelopes)
    assert probe.batches == []  # nothing new to apply


async def _count(pool, want: int) -> bool:
    return await effects(pool) >= want


@pytest.fixture
def multiple_acks(monkeypatch) -> list[int]:
    """The delivery tags acked with ``multiple`` (this and every earlier one)."""
    tags: list[int] = []
    ack = aio_pika.IncomingMessage.ack

    async def counting(message: aio_pika.IncomingMessage, multiple: bool = False) -> None:
        if multiple:
            tags.append(message.delivery_tag or 0)
        await ack(message, multiple)

    monkeypatch.setattr(aio_pika.IncomingMessage, "ack", counting)
    return tags


async def test_a_batch_is_acked_with_one_frame_and_nothing_comes_back(
    queue_ready, make_probe, publisher, pool, amqp, topology, multiple_acks
):
    envelopes = [ping("ok") for _ in range(3 * BATCH)]
    for envelope in envelopes:
        await publisher.publish(envelope)
    probe = await make_probe()
    await eventually(lambda: until(lambda: settled(probe) == len(envelopes)), what="all settled")
    await probe.consumer.stop(5)
    assert multiple_acks  # at least one batch acked at once
    assert len(multiple_acks) <= len(probe.batches)
    queue = await (await amqp.channel()).declare_queue(topology.queue(PROBE), passive=True)
    assert queue.declaration_result.message_count == 0  # every message settled
    assert await effects(pool) == len(envelopes)


async def test_a_message_still_in_hand_is_never_acked_with_a_later_batch(
    queue_ready, make_probe, publisher, pool, settings, topology, amqp, multiple_acks
):
    """An earlier message still on the one-by-one path keeps the batch's acks
    one by one: when the connection dies, that one comes back to the next
    consumer, and the batch does not."""
    held = ping("ok")
    channel = await amqp.channel()
    exchange = await topology.declare_exchange(channel)
    # Not of the batch's type on the message: it takes the one-by-one path.
    await exchange.publish(
        aio_pika.Message(held.encode(), type="held", message_id=held.id),
        routing_key="system.ping",
    )
    envelopes = [ping("ok") for _ in range(BATCH // 2)]
    for envelope in envelopes:
        await publisher.publish(envelope)

    runtime_connection = await aio_pika.connect_robust(settings.amqp_url)
    release = asyncio.Event()
    runtime = Runtime("probe", settings, pool, runtime_connection, publisher, topology)
    single = make_handler(runtime)

    async def holds(event: Envelope, conn: Connection) -> None:
        if event.id == held.id:
            await release.wait()
        await single(event, conn)

    async def each(events: list[Envelope], conn: Connection) -> None:
        for event in events:
            await single(event, conn)

    doomed = Consumer(
        spec=PROBE,
        topology=topology,
        handler=holds,
        pool=pool,
        inbox_table="probe.inbox",
        batch_handlers={Ping.TYPE: each},
        batch_size=BATCH,
    )
    await doomed.start(runtime_connection)
    try:
        await eventually(
            lambda: until(lambda: doomed.outcomes["ok"] == len(envelopes)), what="the batch"
        )
        # An ack "up to" any of the batch's tags would have reached the held one.
        assert multiple_acks == []
        await runtime_connection.close()
    finally:
        release.set()
        await doomed.stop(5)
    probe = await make_probe()
    await eventually(lambda: until(lambda: settled(probe) >= 1), what="the held message back")
    await probe.consumer.stop(5)
    assert dict(probe.consumer.outcomes) == {"ok": 1}
    assert await effects(pool, held.id) == 1
    assert await effects(pool) == len(envelopes) + 1
    queue = await (await amqp.channel()).declare_queue(topology.queue(PROBE), passive=True)
    assert queue.declaration_result.message_count == 0  # the batch is not redelivered
