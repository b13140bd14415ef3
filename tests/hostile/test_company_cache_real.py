"""The company cache follows the database (issue 11, finding 8): a disable
and a rotation count from the next request, and ids that name no company
fill nothing."""

from __future__ import annotations

import uuid

import pytest

from services.ingest import company_cache, operators, queries
from services.ingest.views import INGEST
from tests.helpers import eventually
from tests.ingest.conftest import posting, signed

pytestmark = pytest.mark.real


@pytest.fixture
async def listening(client, monkeypatch):
    # A reuse window far longer than the test: whatever is dropped, the
    # notification dropped it.
    monkeypatch.setattr(company_cache, "TTL_S", 3600.0)
    cache = client.server.app[INGEST].companies

    async def ready() -> bool:
        return cache.listening

    await eventually(ready, what="the company cache to listen")
    return cache


async def test_a_disabled_company_is_refused_once_the_change_is_committed(
    company, client, pool, listening
):
    body, headers = signed(company, "job.created", posting("a"))
    assert (await client.post(company.url, data=body, headers=headers)).status == 202
    assert len(listening) == 1
    async with pool.acquire() as conn:
        await queries.disable_company(conn, uuid.UUID(company.id))

    async def dropped() -> bool:
        return len(listening) == 0

    await eventually(dropped, what="the disabled company to leave the cache")
    body, headers = signed(company, "job.created", posting("b"))
    assert (await client.post(company.url, data=body, headers=headers)).status == 404


async def test_a_rotated_secret_works_on_the_very_next_request(
    company, client, pool, settings, listening
):
    body, headers = signed(company, "job.created", posting("a"))
    assert (await client.post(company.url, data=body, headers=headers)).status == 202
    rotated = await operators.rotate_secret(pool, settings, uuid.UUID(company.id))
    assert rotated is not None
    # No waiting here: a signature the cached secrets do not match is
    # checked again against the database's.
    body, headers = signed(company, "job.created", posting("b"), secret=rotated["secret"])
    assert (await client.post(company.url, data=body, headers=headers)).status == 202


async def test_unknown_company_ids_are_not_kept(company, client, listening):
    body, headers = signed(company, "job.created", posting("a"))
    for _ in range(50):
        response = await client.post(f"/v1/hooks/{uuid.uuid4()}", data=body, headers=headers)
        assert response.status == 404
    assert len(listening) == 0


async def test_the_cache_has_a_bound(pool, settings, monkeypatch, listening):
    monkeypatch.setattr(company_cache, "MAX_ENTRIES", 3)
    ids = [
        uuid.UUID(
            (await operators.add_company(pool, settings, f"Firm {i} AB", [], None))["company_id"]
        )
        for i in range(5)
    ]
    for company_id in ids:
        found, _ = await listening.get(company_id)
        assert found is not None
    assert len(listening) == 3
