"""Two ingest processes on one port (PASSAPAROLA_HTTP_REUSE_PORT): the kernel
deals the connections out between them, both answer webhooks, every delivery
is stored once, and a delivery sent to both at once is still one posting."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ServiceProcess, free_port
from tests.ingest.conftest import posting, signed

pytestmark = pytest.mark.real

DELIVERIES = 40  # each on a connection of its own


@pytest.fixture
async def two_on_one_port(service_env, tmp_path):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_INGEST_PORT": str(port),
        "PASSAPAROLA_HTTP_REUSE_PORT": "true",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "1000",
        "PASSAPAROLA_WEBHOOK_BURST": "1000",
    }
    # Each gets an operator port of its own (ServiceProcess picks one).
    processes = [
        ServiceProcess(["-m", "services.ingest"], env, port, tmp_path / f"ingest-{n}.log")
        for n in range(2)
    ]
    try:
        for process in processes:  # one after the other: the first one migrates
            await process.start()
        yield port, processes
    finally:
        for process in processes:
            process.kill()


async def accepted(http: aiohttp.ClientSession, process: ServiceProcess) -> int:
    """The 202s this process answered, from its own operator /metrics."""
    async with http.get(f"http://127.0.0.1:{process.operator_port}/metrics") as resp:
        text = await resp.text()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "passaparola_webhook_requests_total":
                counts[sample.labels["status"]] += int(sample.value)
    return counts["202"]


async def deliver(port: int, company: Any, body: bytes, headers: dict[str, str]) -> Any:
    # A connection of its own: the kernel picks the process per connection.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.post(f"http://127.0.0.1:{port}{company.url}", data=body, headers=headers) as resp,
    ):
        assert resp.status == 202, await resp.text()
        return await resp.json()


async def test_both_processes_take_webhooks_and_each_is_stored_once(
    two_on_one_port, make_company, pool
):
    port, processes = two_on_one_port
    company = await make_company()
    answers = await asyncio.gather(
        *(
            deliver(port, company, *signed(company, "job.created", posting(f"shared-{i}")))
            for i in range(DELIVERIES)
        )
    )
    assert {a["outcome"] for a in answers} == {"created"}
    assert len({a["posting_id"] for a in answers}) == DELIVERIES
    stored = await pool.fetchval(
        "SELECT count(*) FROM ingest.postings WHERE external_id LIKE 'shared-%'"
    )
    events = await pool.fetchval("SELECT count(*) FROM ingest.outbox")
    assert (stored, events) == (DELIVERIES, DELIVERIES)
    async with aiohttp.ClientSession() as http:
        per_process = [await accepted(http, process) for process in processes]
    # Forty connections all dealt to one process would be a 1 in 2**39 chance.
    assert sum(per_process) == DELIVERIES
    assert min(per_process) > 0, per_process


async def test_one_delivery_sent_on_many_connections_at_once_is_one_posting(
    two_on_one_port, make_company, pool
):
    port, _ = two_on_one_port
    company = await make_company()
    body, headers = signed(company, "job.created", posting("twin"))
    answers = await asyncio.gather(*(deliver(port, company, body, headers) for _ in range(8)))
    assert len({a["posting_id"] for a in answers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 1
    assert await pool.fetchval("SELECT count(*) FROM ingest.outbox") == 1
