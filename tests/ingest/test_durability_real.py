"""An acknowledged webhook is never lost: not when ingest is killed right after
answering, not when the broker is down for a while."""

from __future__ import annotations

import asyncio
import signal

import aio_pika
import aiohttp
import pytest

from shared.events import Envelope
from shared.topology import QueueSpec
from tests.conftest import TEST_STACK
from tests.helpers import ServiceProcess, eventually, free_port, stack
from tests.ingest.conftest import posting, signed

pytestmark = [pytest.mark.real, pytest.mark.slow]

OBSERVER = QueueSpec("observer", ("job.#",))


@pytest.fixture
async def ingest(service_env, tmp_path):
    port = free_port()
    env = {**service_env, "PASSAPAROLA_INGEST_PORT": str(port)}
    process = ServiceProcess(["-m", "services.ingest"], env, port, tmp_path / "ingest.log")
    yield process
    process.kill()


@pytest.fixture
async def observer(amqp, topology):
    channel = await amqp.channel()
    return await topology.declare_queue(channel, OBSERVER)


async def post_all(port, company, count, prefix):
    statuses = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            body, headers = signed(company, "job.created", posting(f"{prefix}-{i}"))
            async with http.post(
                f"http://127.0.0.1:{port}{company.url}", data=body, headers=headers
            ) as response:
                statuses.append(response.status)
    return statuses


async def drain(settings, queue_name, expected, timeout=60.0):
    """Read the observer queue on a connection of its own (the broker may just
    have restarted under the test's); count events per posting."""
    seen: dict[str, int] = {}

    async def enough() -> bool:
        try:
            connection = await aio_pika.connect(settings.amqp_url)
        except (OSError, aio_pika.exceptions.AMQPError):
            return False
        async with connection:
            queue = await (await connection.channel()).get_queue(queue_name)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                data = Envelope.decode(message.body).data
                posting_id = data.posting_id  # type: ignore[attr-defined]
                seen[posting_id] = seen.get(posting_id, 0) + 1
        return len(seen) >= expected

    await eventually(enough, timeout=timeout, what=f"{expected} job events")
    return seen


async def test_a_webhook_acknowledged_just_before_a_sigkill_is_published_after_restart(
    ingest, observer, company, pool, settings, topology
):
    await ingest.start()
    statuses = await post_all(ingest.port, company, 25, "kill")
    ingest.signal(signal.SIGKILL)  # the instant after the last 202
    assert statuses == [202] * 25
    await ingest.wait()
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 25
    await ingest.start()
    seen = await drain(settings, topology.queue(OBSERVER), 25)
    assert len(seen) == 25
    await asyncio.sleep(0.5)
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL") == 0


async def test_webhooks_accepted_while_the_broker_is_down_are_published_when_it_returns(
    ingest, observer, company, pool, settings, topology
):
    await ingest.start()
    await asyncio.to_thread(stack, "rabbitmq.sh", "stop", TEST_STACK)
    try:
        statuses = await post_all(ingest.port, company, 10, "down")
        assert statuses == [202] * 10
        assert (
            await pool.fetchval("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL")
            == 10
        )
    finally:
        await asyncio.to_thread(stack, "rabbitmq.sh", "start", TEST_STACK)
    seen = await drain(settings, topology.queue(OBSERVER), 10, timeout=90)
    assert len(seen) == 10
