"""Whole service processes under fire: SIGTERM, SIGKILL, a broker restart and a
database restart in the middle of a batch. Nothing is lost, nothing is done
twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from shared.publisher import Publisher
from tests import helpers
from tests.chaos.proxy import Proxy
from tests.conftest import TEST_STACK
from tests.helpers import ServiceProcess, eventually, free_port, publish_pings

pytestmark = [pytest.mark.real, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"


@pytest.fixture
async def probe(service_env, tmp_path) -> AsyncIterator[ServiceProcess]:
    port = free_port()
    env = {**service_env, "PASSAPAROLA_MATCHER_PORT": str(port), "PASSAPAROLA_PREFETCH": "8"}
    process = ServiceProcess(
        ["-m", "tests.fixtures.probe_service"], env, port, tmp_path / "probe.log"
    )
    yield process
    process.kill()


@pytest.fixture
async def publisher(amqp, topology):
    return await Publisher.create(await amqp.channel(), topology)


async def count(pool, sql, *args) -> int:
    try:
        return int(await pool.fetchval(sql, *args))
    except (OSError, *__import__("shared.db", fromlist=["UNAVAILABLE"]).UNAVAILABLE):
        return -1  # the database is restarting under us


async def effects(pool) -> int:
    return await count(pool, "SELECT count(*) FROM probe.effects")


async def at_least(pool, n) -> bool:
    return await effects(pool) >= n


async def assert_each_exactly_once(pool, envelopes) -> None:
    rows = await pool.fetch("SELECT event_id, count(*) AS n FROM probe.effects GROUP BY event_id")
    seen = {r["event_id"]: r["n"] for r in rows}
    assert set(seen) == {e.id for e in envelopes}, "an event was lost (or an unknown one appeared)"
    assert max(seen.values()) == 1, "an event had a second effect"


async def test_sigterm_during_a_batch_finishes_what_is_in_hand_and_loses_nothing(
    probe, publisher, pool
):
    await probe.start()
    envelopes = await publish_pings(publisher, ["slow:150"] * 30)
    await eventually(lambda: at_least(pool, 3), what="the batch to be under way")
    probe.signal(signal.SIGTERM)
    assert await probe.wait() == 0
    started = await count(pool, "SELECT count(DISTINCT event_id) FROM probe.attempts")
    done = await effects(pool)
    assert 0 < done < 30
    # Every message it had started, it finished before exiting.
    assert started == done
    await probe.start()
    await eventually(lambda: at_least(pool, 30), what="the rest after a restart")
    await assert_each_exactly_once(pool, envelopes)


async def test_sigkill_mid_batch_loses_nothing_and_repeats_nothing(probe, publisher, pool):
    await probe.start()
    envelopes = await publish_pings(publisher, ["slow:100"] * 30)
    await eventually(lambda: at_least(pool, 3), what="the batch to be under way")
    probe.signal(signal.SIGKILL)
    assert await probe.wait() == -signal.SIGKILL
    assert await effects(pool) < 30
    await probe.start()
    await eventually(lambda: at_least(pool, 30), what="the rest after a restart")
    await asyncio.sleep(0.5)  # give a would-be duplicate the time to show up
    await assert_each_exactly_once(pool, envelopes)


def stack(script: str, action: str) -> None:
    helpers.stack(script, action, TEST_STACK)


async def test_consumers_resume_after_a_broker_restart_and_nothing_is_lost(
    probe, settings, topology, pool
):
    await probe.start()
    pid = probe.proc.pid
    connection = await aio_pika.connect(settings.amqp_url)
    publisher = await Publisher.create(await connection.channel(), topology)
    before = await publish_pings(publisher, ["slow:100"] * 30)
    await connection.close()
    await eventually(lambda: at_least(pool, 3), what="the batch to be under way")
    await asyncio.to_thread(stack, "rabbitmq.sh", "stop")
    await asyncio.to_thread(stack, "rabbitmq.sh", "start")
    connection = await aio_pika.connect(settings.amqp_url)
    publisher = await Publisher.create(await connection.channel(), topology)
    after = await publish_pings(publisher, ["ok"] * 10)
    await connection.close()
    await eventually(lambda: at_least(pool, 40), timeout=60, what="everything, after the restart")
    assert probe.proc.pid == pid and probe.proc.poll() is None, "the service had to be restarted"
    await asyncio.sleep(0.5)
    await assert_each_exactly_once(pool, before + after)


async def test_a_database_restart_mid_run_loses_nothing_and_spends_no_retries(
    probe, publisher, pool, amqp, topology
):
    await probe.start()
    envelopes = await publish_pings(publisher, ["slow:100"] * 30)
    await eventually(lambda: at_least(pool, 3), what="the batch to be under way")
    await asyncio.to_thread(stack, "postgres.sh", "stop")
    await asyncio.sleep(2)
    await asyncio.to_thread(stack, "postgres.sh", "start")
    await eventually(lambda: at_least(pool, 30), timeout=60, what="everything, after the restart")
    await assert_each_exactly_once(pool, envelopes)
    from shared import dlq
    from tests.fixtures.probe_service import PROBE

    assert await dlq.peek(amqp, topology.dead_letter_queue(PROBE)) == []


def test_a_service_with_a_missing_setting_exits_with_one_clear_line(stack_env):
    env = {k: v for k, v in {**os.environ, **stack_env}.items() if k != "PASSAPAROLA_AMQP_URL"}
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "passaparola"), "matcher"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        "passaparola: configuration error: PASSAPAROLA_AMQP_URL is missing "
        "(RabbitMQ URL with its virtual host, e.g. `amqp://user:pass@host:5672/vhost`.)"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{port}"
    netloc = f"{parts.username}:{parts.password}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


async def test_sigterm_with_the_broker_and_the_database_gone_still_exits(service_env, tmp_path):
    # Both connections go through proxies that are then cut for good: the
    # consumer cannot cancel on its channel, the pool cannot reach PostgreSQL.
    # Shutdown must still end, within the grace and a bounded margin, not wait
    # for servers that are not coming back.
    amqp_url = service_env["PASSAPAROLA_AMQP_URL"]
    db_url = service_env["PASSAPAROLA_DATABASE_URL"]
    broker = Proxy("amqp", urlsplit(amqp_url).port or 5672)
    database = Proxy("db", urlsplit(db_url).port or 5432)
    await broker.start()
    await database.start()
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_AMQP_URL": _via(amqp_url, broker.port),
        "PASSAPAROLA_DATABASE_URL": _via(db_url, database.port),
        "PASSAPAROLA_MATCHER_PORT": str(port),
        "PASSAPAROLA_SHUTDOWN_GRACE_S": "2",
    }
    process = ServiceProcess(
        ["-m", "tests.fixtures.probe_service"], env, port, tmp_path / "probe.log"
    )
    try:
        await process.start()
        broker.cut(3600)
        database.cut(3600)
        await asyncio.sleep(1)  # the service notices: reconnect loops begin
        process.signal(signal.SIGTERM)
        assert await process.wait(timeout=60) == 0
    finally:
        process.kill()
        await broker.close()
        await database.close()
