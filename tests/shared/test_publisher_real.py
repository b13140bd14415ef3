"""Publishing a batch in one write (``Publisher.publish_many``), against the
real broker: every message arrives as a single publish would send it, each
confirm or refusal reaches its own message, and the channel's bookkeeping of
confirms stays exact when batches and single publishes share a channel."""

from __future__ import annotations

import asyncio

import aio_pika
import aiormq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.publisher import CONTENT_TYPE, WRITE_BYTES, Outgoing, Publisher
from tests.helpers import ping

pytestmark = pytest.mark.real


@pytest.fixture
async def channel(amqp):
    return await amqp.channel()


@pytest.fixture
async def exchange(channel, namespace):
    # Deleted with the namespace at the end of the test.
    return await channel.declare_exchange(
        f"{namespace}.publish", aio_pika.ExchangeType.TOPIC, durable=False
    )


async def _queue(channel, exchange, namespace, name, **arguments):
    queue = await channel.declare_queue(
        f"{namespace}.{name}", durable=False, arguments=arguments or None
    )
    await queue.bind(exchange, "#")
    return queue


async def _take(queue, count):
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    deadline = asyncio.get_running_loop().time() + 20
    while len(got) < count:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            assert asyncio.get_running_loop().time() < deadline, f"{len(got)} of {count} arrived"
            await asyncio.sleep(0.02)
            continue
        got.append(message)
    return got


def _outgoing(note: str, key: str = "system.ping") -> Outgoing:
    envelope = ping(note)
    return Outgoing(envelope.encode(), envelope.id, key)


async def test_a_batch_arrives_in_order_as_single_publishes_would_send_it(
    channel, exchange, namespace
):
    queue = await _queue(channel, exchange, namespace, "all")
    publisher = Publisher(exchange)
    single = _outgoing("single")
    await publisher.publish_encoded(*single)
    batch = [_outgoing(f"n{i}", "member.changed.7" if i % 2 else "job.created") for i in range(20)]
    assert await publisher.publish_many(batch) == [None] * len(batch)
    first, *rest = await _take(queue, 1 + len(batch))
    assert [m.message_id for m in rest] == [o.event_id for o in batch]
    assert [m.body for m in rest] == [o.body for o in batch]
    assert [m.routing_key for m in rest] == [o.key for o in batch]
    assert [m.type for m in rest] == [
        "member.changed" if i % 2 else "job.created" for i in range(20)
    ]
    assert first.content_type == CONTENT_TYPE
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    for message in rest:
        # The same properties as the single publish's, all but the event's own.
        assert _shared_properties(message) == _shared_properties(first)


def _shared_properties(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, object]:
    own = {"message_id", "type", "routing_key", "delivery_tag", "body_size", "redelivered"}
    return {key: value for key, value in message.info().items() if key not in own}


async def test_a_refused_message_is_reported_for_itself_only(channel, exchange, namespace):
    # A full queue that refuses new messages: the broker nacks them.
    await _queue(
        channel, exchange, namespace, "small", **{"x-max-length": 2, "x-overflow": "reject-publish"}
    )
    publisher = Publisher(exchange)
    outcomes = await publisher.publish_many([_outgoing(f"n{i}") for i in range(5)])
    assert outcomes[:2] == [None, None]
    assert all(isinstance(o, aio_pika.exceptions.DeliveryError) for o in outcomes[2:])


async def test_batches_and_single_publishes_share_a_channel_exactly(channel, exchange, namespace):
    queue = await _queue(channel, exchange, namespace, "mixed")
    publisher = Publisher(exchange)
    first, second = [_outgoing(f"a{i}") for i in range(3)], [_outgoing(f"b{i}") for i in range(3)]
    middle = _outgoing("middle")
    batch_one, single, batch_two = await asyncio.gather(
        publisher.publish_many(first),
        publisher.publish_encoded(*middle),
        publisher.publish_many(second),
    )
    assert batch_one == batch_two == [None] * 3
    assert single is None
    received = {m.message_id for m in await _take(queue, 7)}
    assert received == {o.event_id for o in [*first, middle, *second]}
    # Every confirm was matched to its message and nothing is left waiting.
    underlay = await channel.get_underlay_channel()
    assert underlay.confirmations == {}
    assert underlay.message_id_delivery_tag == {}


async def test_a_closed_channel_publishes_nothing_and_says_so(amqp, namespace):
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        f"{namespace}.closed", aio_pika.ExchangeType.TOPIC, durable=False
    )
    await channel.close()
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await Publisher(exchange).publish_many([_outgoing("late")])


async def test_an_empty_batch_is_nothing_to_do(exchange):
    assert await Publisher(exchange).publish_many([]) == []


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sizes=st.lists(
        st.sampled_from([0, 1, 1000, 131_064, 131_072, 300_000]) | st.integers(0, 5000),
        min_size=1,
        max_size=6,
    )
)
async def test_bodies_of_any_size_arrive_whole(channel, exchange, namespace, sizes):
    # Bodies over the broker's frame size travel as several body frames.
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")
    batch = [
        Outgoing(bytes([n % 251]) * size, f"{namespace}-{n}-{size}", "system.ping")
        for n, size in enumerate(sizes)
    ]
    assert await Publisher(exchange).publish_many(batch) == [None] * len(batch)
    got = await _take(queue, len(batch))
    assert [m.body for m in got] == [o.body for o in batch]
    await queue.delete()


async def test_a_batch_larger_than_one_write_arrives_whole_and_in_order(channel, exchange):
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")
    # Three writes' worth of bodies, the middle one past a write on its own.
    sizes = [WRITE_BYTES // 2, WRITE_BYTES // 2, WRITE_BYTES + 1, 10, WRITE_BYTES // 3]
    batch = [
        Outgoing(bytes([n]) * size, f"large-{n}", "system.ping") for n, size in enumerate(sizes)
    ]
    assert await Publisher(exchange).publish_many(batch) == [None] * len(batch)
    got = await _take(queue, len(batch))
    assert [m.message_id for m in got] == [o.event_id for o in batch]
    assert [m.body for m in got] == [o.body for o in batch]
    underlay = await channel.get_underlay_channel()
    assert underlay.confirmations == {}


async def test_a_channel_the_broker_closes_fails_the_awaited_confirms(amqp, namespace):
    # Publishing to an exchange that is gone: the broker closes the channel
    # instead of confirming, and every message of the batch is told so (the
    # channel's closing, not the confirm timeout: no TimeoutError).
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        f"{namespace}.gone", aio_pika.ExchangeType.TOPIC, durable=False
    )
    other = await amqp.channel()
    await other.exchange_delete(exchange.name)
    underlay = await channel.get_underlay_channel()
    outcomes = await Publisher(exchange).publish_many([_outgoing(f"n{i}") for i in range(3)])
    assert all(isinstance(o, aiormq.exceptions.ChannelInvalidStateError) for o in outcomes)
    assert underlay.is_closed
    assert underlay.message_id_delivery_tag == {}
