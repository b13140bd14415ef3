"""The consumer runner against the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import io
import itertools
import json

import aio_pika
import pytest

from shared import dlq, logs
from shared.consumer import Consumer
from shared.publisher import Publisher
from shared.service import Runtime
from tests.fixtures.probe_service import PROBE, make_handler
from tests.helpers import eventually, ping, publish_pings

pytestmark = pytest.mark.real


@pytest.fixture
async def publisher(amqp, topology):
    return await Publisher.create(await amqp.channel(), topology)


@pytest.fixture
async def consumer(amqp, pool, settings, topology, publisher):
    runtime = Runtime("probe", settings, pool, amqp, publisher, topology)
    consumer = Consumer(
        spec=PROBE,
        topology=topology,
        handler=make_handler(runtime),
        pool=pool,
        inbox_table="probe.inbox",
        prefetch=8,
    )
    await consumer.start(amqp)
    yield consumer
    await consumer.stop(5)


async def effects(pool, event_id=None):
    if event_id is None:
        return await pool.fetchval("SELECT count(*) FROM probe.effects")
    return await pool.fetchval("SELECT count(*) FROM probe.effects WHERE event_id = $1", event_id)


async def dead_letters(amqp, topology):
    return await dlq.peek(amqp, topology.dead_letter_queue(PROBE))


async def test_a_message_is_handled_once_and_acked(consumer, publisher, pool, amqp, topology):
    (envelope,) = await publish_pings(publisher, ["ok"])
    await eventually(lambda: _eq(effects(pool, envelope.id), 1), what="the effect")
    await eventually(lambda: _queue_empty(amqp, topology.queue(PROBE)), what="the ack")
    assert consumer.outcomes["ok"] == 1


async def test_a_redelivered_event_has_no_second_effect(consumer, publisher, pool):
    envelope = ping("ok")
    for _ in range(3):
        await publisher.publish(envelope)
    await eventually(lambda: _ge(_outcome(consumer, "duplicate"), 2), what="duplicates")
    assert await effects(pool, envelope.id) == 1
    assert consumer.outcomes["ok"] == 1


async def test_a_transient_failure_is_retried_with_back_off_then_handled(
    consumer, publisher, pool, topology
):
    (envelope,) = await publish_pings(publisher, ["fail:2"])
    await eventually(lambda: _eq(effects(pool, envelope.id), 1), what="the eventual success")
    times = [
        r["attempted_at"]
        for r in await pool.fetch(
            "SELECT attempted_at FROM probe.attempts WHERE event_id = $1 ORDER BY attempted_at",
            envelope.id,
        )
    ]
    assert len(times) == 3
    gaps_ms = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(times)]
    # Each retry waited at least its back-off step (150 ms, then 300 ms).
    assert gaps_ms[0] >= topology.retry_delays_ms[0]
    assert gaps_ms[1] >= topology.retry_delays_ms[1]
    assert consumer.outcomes["retried"] == 2


async def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue_with_its_reason(
    consumer, publisher, pool, amqp, topology
):
    (envelope,) = await publish_pings(publisher, ["raise:the partner API said no"])
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    (letter,) = await dead_letters(amqp, topology)
    assert letter.message_id == envelope.id
    assert letter.queue == topology.queue(PROBE)
    assert letter.reason == "failed 3 times, last: ValueError"
    # The exception's text is not a reason: it can quote the message.
    assert "the partner API said no" not in letter.reason
    assert letter.attempts == 3
    assert await effects(pool) == 0
    # Looking at the dead-letter queue does not take anything out of it.
    assert len(await dead_letters(amqp, topology)) == 1


async def test_poison_goes_to_the_dead_letter_queue_at_once(
    consumer, publisher, pool, amqp, topology
):
    (envelope,) = await publish_pings(publisher, ["poison"])
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    (letter,) = await dead_letters(amqp, topology)
    assert letter.message_id == envelope.id
    assert letter.reason.startswith("poison: Poison")
    assert await pool.fetchval("SELECT count(*) FROM probe.attempts") == 1


async def test_a_message_that_breaks_the_contract_is_dead_lettered(consumer, amqp, topology):
    channel = await amqp.channel()
    exchange = await channel.get_exchange(topology.exchange)
    await exchange.publish(
        aio_pika.Message(b"{not json", message_id="garbage-1"), routing_key="system.ping"
    )
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    (letter,) = await dead_letters(amqp, topology)
    assert letter.message_id == "garbage-1"
    assert letter.reason.startswith("contract: not JSON")


async def test_a_wrongly_typed_field_is_dead_lettered_without_reaching_the_handler(
    consumer, pool, amqp, topology
):
    body = {
        "specversion": "1.0",
        "id": "typed-1",
        "source": "/elsewhere",
        "type": "system.ping",
        "dataversion": 1,
        "data": {"ping_id": "ok", "note": 42},
    }
    channel = await amqp.channel()
    exchange = await channel.get_exchange(topology.exchange)
    await exchange.publish(
        aio_pika.Message(json.dumps(body).encode(), message_id="typed-1"),
        routing_key="system.ping",
    )
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    (letter,) = await dead_letters(amqp, topology)
    assert letter.reason == "contract: system.ping v1: note is not str"
    assert consumer.outcomes["retried"] == 0
    assert await pool.fetchval("SELECT count(*) FROM probe.attempts") == 0


async def test_a_dead_letter_replayed_by_an_operator_is_handled(
    consumer, publisher, pool, amqp, topology
):
    # Fails on its three attempts (the first and two retries), succeeds on the fourth.
    (envelope,) = await publish_pings(publisher, ["fail:3"])
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    assert await dlq.replay(amqp, topology.dead_letter_queue(PROBE), {"not-this-one"}) == 0
    assert await dlq.replay(amqp, topology.dead_letter_queue(PROBE), {envelope.id}) == 1
    await eventually(lambda: _eq(effects(pool, envelope.id), 1), what="the replayed success")
    assert await dead_letters(amqp, topology) == []


async def test_discarding_removes_only_the_named_dead_letter(consumer, publisher, amqp, topology):
    first, second = await publish_pings(publisher, ["poison", "poison"])
    await eventually(lambda: _outcome_is(consumer, "dead_lettered", 2), what="dead-lettering")
    assert await dlq.discard(amqp, topology.dead_letter_queue(PROBE), {first.id}) == 1
    assert [d.message_id for d in await dead_letters(amqp, topology)] == [second.id]


async def test_the_broker_dead_letters_a_message_redelivered_past_the_delivery_limit(
    amqp, topology
):
    """What happens when a consumer keeps dying mid-message, without the wait:
    every return to the queue counts, and at the limit RabbitMQ parks it."""
    channel = await amqp.channel()
    queue = await topology.declare_queue(channel, PROBE)
    publisher = await Publisher.create(channel, topology)
    (envelope,) = await publish_pings(publisher, ["ok"])
    returned = 0
    while returned <= topology.delivery_limit:
        message = await queue.get(no_ack=False, fail=False, timeout=5)
        if message is None:
            break
        await message.nack(requeue=True)
        returned += 1
    assert returned == topology.delivery_limit + 1
    await eventually(lambda: _ge(_count_dead(amqp, topology), 1), what="broker dead-lettering")
    (letter,) = await dead_letters(amqp, topology)
    assert letter.message_id == envelope.id
    assert letter.reason == "broker: delivery_limit"
    assert letter.queue == topology.queue(PROBE)


async def test_canary_personal_data_in_a_failure_reaches_neither_log_nor_dead_letter(
    consumer, publisher, amqp, topology
):
    canary_email, canary_phone = "canary.mario@example.se", "+46 70 123 45 67"
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    try:
        await publish_pings(publisher, [f"raise:cannot mail {canary_email} / {canary_phone}"])
        await eventually(lambda: _outcome_is(consumer, "dead_lettered", 1), what="dead-lettering")
    finally:
        logs.configure("info", "json")
    (letter,) = await dead_letters(amqp, topology)
    for text in (out.getvalue(), json.dumps(letter.to_json())):
        assert canary_email not in text
        assert canary_phone not in text
    assert "cannot mail" not in letter.reason
    summaries = [
        json.loads(line) for line in out.getvalue().splitlines() if '"message handled"' in line
    ]
    assert [s["outcome"] for s in summaries].count("retried") == 2


# --- small async predicates ----------------------------------------------------------------


async def _eq(value, expected) -> bool:
    return (await value) == expected


async def _ge(value, expected) -> bool:
    return (await value) >= expected


async def _outcome(consumer, name):
    return consumer.outcomes[name]


async def _outcome_is(consumer, name, expected) -> bool:
    return consumer.outcomes[name] == expected


async def _queue_empty(amqp, name) -> bool:
    channel = await amqp.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count == 0
    finally:
        await channel.close()


async def _count_dead(amqp, topology) -> int:
    return len(await dead_letters(amqp, topology))
