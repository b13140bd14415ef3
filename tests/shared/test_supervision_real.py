"""Supervised background tasks in a whole service process (the probe service,
on the real runtime): a task that keeps failing is restarted, named by
/readyz and counted in /metrics while the consumer keeps working; SIGUSR1
makes every task crash once and each comes back."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.publisher import Publisher
from tests.helpers import ServiceProcess, eventually, free_port, publish_pings

pytestmark = pytest.mark.real


@pytest.fixture
async def probe(service_env, tmp_path) -> AsyncIterator[ServiceProcess]:
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_MATCHER_PORT": str(port),
        "PASSAPAROLA_TASK_RESTART_DELAYS_MS": "200,400",
    }
    process = ServiceProcess(
        ["-m", "tests.fixtures.probe_service"], env, port, tmp_path / "probe.log"
    )
    await process.start()
    yield process
    process.kill()


async def readyz(port: int) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/readyz") as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def sample(port: int, name: str, task: str) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("task") == task:
                return float(s.value)
    raise AssertionError(f"{name}{{task={task}}} is not exported")


async def beats(pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(max(beats), 0) FROM probe.beats"))


async def test_a_failing_task_is_named_by_readyz_counted_and_the_rest_keep_flowing(
    probe, pool, amqp, topology
):
    port = probe.operator_port  # readiness and metrics live on the operator listener
    assert await sample(port, "passaparola_task_crashes_total", "beat") == 0
    await pool.execute("INSERT INTO probe.faults DEFAULT VALUES")

    async def named_down() -> bool:
        status, body = await readyz(port)
        return status == 503 and body.get("checks") == {"task:beat": "TaskDown"}

    await eventually(named_down, what="/readyz to name the task that is down")

    async def counted() -> bool:
        return await sample(port, "passaparola_task_crashes_total", "beat") >= 2

    await eventually(counted, what="the crashes to be counted")
    # The consumer and the relay are untouched by the failing task.
    publisher = await Publisher.create(await amqp.channel(), topology)
    envelopes = await publish_pings(publisher, ["ok"] * 5)

    async def handled() -> bool:
        return int(await pool.fetchval("SELECT count(*) FROM probe.effects")) == len(envelopes)

    await eventually(handled, what="the pings handled while the task is down")
    assert await sample(port, "passaparola_task_up", "outbox_relay") == 1

    await pool.execute("DELETE FROM probe.faults")

    async def ready_again() -> bool:
        status, _ = await readyz(port)
        return status == 200

    await eventually(ready_again, what="/readyz ready once the fault is gone")
    before = await beats(pool)
    await eventually(lambda: _more(pool, before), what="the task working again")
    assert await sample(port, "passaparola_task_up", "beat") == 1
    log = probe.log.read_text()
    assert "task crashed" in log
    assert "induced fault" not in log, "a crash is logged by class, never by its message"


async def test_sigusr1_crashes_every_task_once_and_each_comes_back(probe, pool):
    port = probe.operator_port  # readiness and metrics live on the operator listener
    before = await beats(pool)
    await eventually(lambda: _more(pool, before), what="the task working")
    probe.signal(signal.SIGUSR1)
    for task in ("beat", "outbox_relay"):

        async def crashed(task: str = task) -> bool:
            return await sample(port, "passaparola_task_crashes_total", task) == 1

        await eventually(crashed, what=f"{task}'s crash to be counted")

    async def ready() -> bool:
        status, body = await readyz(port)
        return status == 200 and "task:beat" in body["checks"]  # type: ignore[operator]

    await eventually(ready, what="every task running again")
    after = await beats(pool)
    await eventually(lambda: _more(pool, after), what="the task working after its restart")
    assert probe.proc is not None and probe.proc.poll() is None, "the process itself lives on"


async def _more(pool, than: int) -> bool:
    return await beats(pool) > than
