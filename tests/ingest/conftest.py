"""An ingest app served in-process, on the real database, for HTTP tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.ingest import company_cache, operators, views
from services.ingest.signing import sign
from shared.http import problem_middleware
from shared.publisher import Publisher
from shared.service import Runtime


@dataclass
class Company:
    id: str
    secret: str
    url: str


@pytest.fixture
async def runtime(settings, pool, amqp, topology):
    publisher = await Publisher.create(await amqp.channel(), topology)
    return Runtime("ingest", settings, pool, amqp, publisher, topology)


@pytest.fixture
async def client(runtime):
    app = web.Application(
        middlewares=[problem_middleware], client_max_size=runtime.settings.webhook_max_bytes
    )
    views.routes(app, runtime)
    # The service runs the company cache's listener as a supervised job;
    # here it runs beside the client, as long as the client does.
    stop = asyncio.Event()
    listener = asyncio.create_task(company_cache.run(runtime, stop))
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        stop.set()
        await listener


@pytest.fixture
def make_company(pool, settings):
    async def make(name="Ferretti & Bianchi S.p.A.", aliases=(), group=None) -> Company:
        made = await operators.add_company(pool, settings, name, list(aliases), group)
        return Company(made["company_id"], made["secret"], f"/v1/hooks/{made['company_id']}")

    return make


@pytest.fixture
async def company(make_company):
    return await make_company()


def posting(external_id="ea-1", **overrides: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "title": "Assistente di Direzione",
        "description": "Supporto al CEO di un gruppo industriale.",
        "employment_type": "FULL_TIME",
        "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
        "remote": "hybrid",
        "languages_required": ["it", "en"],
        "languages_nice": ["fr"],
        "skills": ["SAP Concur", "board minutes"],
        "seniority": "senior",
        "salary": {"min": 45000, "max": 55000, "currency": "EUR", "period": "YEAR"},
        "valid_through": "2027-01-31",
        "how_to_apply": {"url": "https://careers.example.it/ea-1"},
    }
    data.update(overrides)
    return data


def signed(
    company: Company,
    event_type: str,
    data: Any,
    *,
    msg_id: str | None = None,
    ts: int | None = None,
    secret: str | None = None,
    body: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = body if body is not None else json.dumps({"type": event_type, "data": data}).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    return body, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret or company.secret, msg_id, ts, body),
    }


@pytest.fixture
def send(client: TestClient[Any, Any]):
    async def send(company: Company, event_type: str, data: Any = None, **kwargs: Any):
        body, headers = signed(company, event_type, data, **kwargs)
        response = await client.post(company.url, data=body, headers=headers)
        return response, await response.json(content_type=None)

    return send
