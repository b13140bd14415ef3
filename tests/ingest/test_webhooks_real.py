"""Company webhooks against the real database: every answer the issue lists."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from services.ingest import queries
from services.ingest.views import INGEST
from shared.events import Envelope, JobCreated
from tests.ingest.conftest import posting, signed

pytestmark = pytest.mark.real

PROBLEM = "application/problem+json"


async def outbox(pool):
    rows = await pool.fetch("SELECT body FROM ingest.outbox ORDER BY id")
    return [Envelope.decode(bytes(r["body"])) for r in rows]


async def test_a_signed_opening_is_stored_with_its_event_in_one_go(company, send, pool):
    response, body = await send(company, "job.created", posting())
    assert response.status == 202
    assert body["outcome"] == "created"
    assert body["status"] == "open"
    assert body["revision"] == 1
    (event,) = await outbox(pool)
    job = event.payload(JobCreated)
    assert job.posting_id == body["posting_id"]
    assert job.company_id == company.id
    assert job.title == "Assistente di Direzione"
    assert job.languages_required == ("it", "en")
    assert job.city == "Milano"
    assert job.company_name == "Ferretti & Bianchi S.p.A."
    assert job.apply_url == "https://careers.example.it/ea-1"


async def test_company_aliases_and_group_travel_with_the_job_for_discretion(
    make_company, send, pool
):
    acme = await make_company("ACME S.p.A.", aliases=["Acme Italia"], group="Acme Group")
    await send(acme, "job.created", posting())
    (event,) = await outbox(pool)
    assert event.payload(JobCreated).company_names == ("ACME S.p.A.", "Acme Italia", "Acme Group")


async def test_the_same_webhook_id_gets_the_first_answer_and_no_second_effect(company, send, pool):
    first, body1 = await send(company, "job.created", posting(), msg_id="msg_retry")
    again, body2 = await send(company, "job.created", posting(title="Changed"), msg_id="msg_retry")
    assert (first.status, again.status) == (202, 202)
    assert body1 == body2
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await outbox(pool)) == 1


async def test_a_webhook_id_reused_for_another_new_posting_has_no_second_effect(
    company, send, pool
):
    # The one-statement path must undo the second posting it began to insert.
    first, body1 = await send(company, "job.created", posting(), msg_id="msg_reused")
    again, body2 = await send(
        company, "job.created", posting(external_id="another-one"), msg_id="msg_reused"
    )
    assert (first.status, again.status) == (202, 202)
    assert body1 == body2
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 1
    assert len(await outbox(pool)) == 1


async def test_the_same_webhook_id_sent_concurrently_creates_one_posting(company, client, pool):
    body, headers = signed(company, "job.created", posting())
    responses = await asyncio.gather(
        *[client.post(company.url, data=body, headers=headers) for _ in range(20)]
    )
    answers = [await r.json() for r in responses]
    assert {r.status for r in responses} == {202}
    assert len({a["posting_id"] for a in answers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 1
    assert len(await outbox(pool)) == 1


async def test_different_deliveries_of_a_new_posting_at_once_make_one_posting(company, send, pool):
    results = await asyncio.gather(
        *[send(company, "job.created", posting(title=f"EA {i}")) for i in range(10)]
    )
    assert {r.status for r, _ in results} == {202}
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 1
    outcomes = sorted(b["outcome"] for _, b in results)
    assert outcomes.count("created") == 1


async def test_update_and_close_publish_their_events_in_order(company, send, pool):
    now = int(time.time())
    await send(company, "job.created", posting(), ts=now - 20)
    r, b = await send(company, "job.updated", posting(title="Executive Assistant"), ts=now - 10)
    assert (r.status, b["outcome"], b["revision"]) == (202, "updated", 2)
    r, b = await send(company, "job.closed", {"external_id": "ea-1"}, ts=now)
    assert (r.status, b["outcome"], b["status"]) == (202, "closed", "closed")
    assert [e.type for e in await outbox(pool)] == ["job.created", "job.updated", "job.closed"]


async def test_late_and_out_of_order_deliveries_change_nothing(company, send, pool):
    now = int(time.time())
    r, b = await send(company, "job.updated", posting(title="Newest"), ts=now)
    assert b["outcome"] == "created"
    r, b = await send(company, "job.created", posting(title="Older"), ts=now - 60)
    assert (r.status, b["outcome"]) == (202, "stale")
    r, b = await send(company, "job.closed", {"external_id": "gone"}, ts=now - 30)
    assert b["outcome"] == "closed_unknown"
    r, b = await send(company, "job.created", posting("gone"), ts=now - 60)
    assert b["outcome"] == "stale"
    r, b = await send(company, "job.updated", posting("gone"), ts=now)
    assert r.status == 409
    assert r.content_type == PROBLEM
    assert "new external_id" in b["detail"]
    data = await pool.fetchval(
        "SELECT data->>'title' FROM ingest.postings WHERE external_id='ea-1'"
    )
    assert data == "Newest"
    assert [e.type for e in await outbox(pool)] == ["job.created"]


async def test_a_company_only_ever_touches_its_own_postings(make_company, send, client, pool):
    a = await make_company("Alfa S.r.l.")
    b = await make_company("Beta AB")
    await send(a, "job.created", posting("same-id"))
    _, body = await send(b, "job.closed", {"external_id": "same-id"})
    assert body["outcome"] == "closed_unknown"
    status = await pool.fetchval(
        "SELECT status FROM ingest.postings p JOIN ingest.companies c ON c.id = p.company_id"
        " WHERE c.name = 'Alfa S.r.l.'"
    )
    assert status == "open"
    # B cannot pass as A: A's secret does not verify at B's URL, nor B's at A's.
    body, headers = signed(a, "job.closed", {"external_id": "same-id"})
    response = await client.post(b.url, data=body, headers=headers)
    assert response.status == 401


@pytest.mark.parametrize(
    ("mutate", "status", "detail"),
    [
        (lambda h: h.pop("webhook-signature"), 401, "missing header"),
        (lambda h: h.update({"webhook-timestamp": str(int(time.time()) - 600)}), 401, "5 minutes"),
        (lambda h: h.update({"webhook-signature": "v1,Zm9v"}), 401, "does not match"),
        (lambda h: h.update({"webhook-signature": "garbage"}), 401, "malformed"),
        (lambda h: h.update({"content-type": "text/plain"}), 415, "application/json"),
    ],
)
async def test_bad_requests_get_a_precise_problem(company, client, pool, mutate, status, detail):
    body, headers = signed(company, "job.created", posting())
    mutate(headers)
    response = await client.post(company.url, data=body, headers=headers)
    answer = await response.json(content_type=None)
    assert response.status == status
    assert response.content_type == PROBLEM
    assert answer["status"] == status
    assert detail in answer["detail"]
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "job.created", "data": ',
        # Nested deeper than the JSON parser goes, well under the size limit.
        b'{"type": "job.created", "data": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    ],
)
async def test_malformed_json_is_a_400_after_a_valid_signature(company, client, body):
    body, headers = signed(company, "x", None, body=body)
    response = await client.post(company.url, data=body, headers=headers)
    assert response.status == 400
    assert "not valid JSON" in (await response.json(content_type=None))["detail"]


async def test_schema_violations_list_every_field(company, send):
    bad = posting(title="", seniority="guru", languages_required=["Italian"], colour="red")
    del bad["location"]
    response, body = await send(company, "job.created", bad)
    assert response.status == 422
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields == {
        "data.colour": "unknown field",
        "data.location": "is required",
        "data.title": "must be at least 2 character(s)",
        "data.seniority": "must be one of: junior, mid, senior, executive",
        "data.languages_required[0]": "has the wrong format (expected ISO 639-1 code, e.g. it)",
    }


async def test_an_unknown_event_type_is_a_422(company, send):
    response, body = await send(company, "job.exploded", {"external_id": "x"})
    assert response.status == 422
    assert body["errors"] == [
        {"field": "type", "message": "must be one of: job.created, job.updated, job.closed"}
    ]


async def test_unknown_or_disabled_companies_get_404(company, client, pool):
    body, headers = signed(company, "job.created", posting())
    response = await client.post(
        "/v1/hooks/7d0d8a52-4e0e-4a8f-9a53-6b7c1f0c0000", data=body, headers=headers
    )
    assert response.status == 404
    response = await client.post("/v1/hooks/not-a-uuid", data=body, headers=headers)
    assert response.status == 404
    async with pool.acquire() as conn:
        await queries.disable_company(conn, uuid.UUID(company.id))
    client.server.app[INGEST].companies.clear()  # skip the short-lived company cache
    response = await client.post(company.url, data=body, headers=headers)
    assert response.status == 404


async def test_a_body_over_the_limit_is_refused_before_any_work(company, client, settings, pool):
    huge = posting(description="x" * (settings.webhook_max_bytes + 10))
    body, headers = signed(company, "job.created", huge)
    response = await client.post(company.url, data=body, headers=headers)
    assert response.status == 413
    assert response.content_type == PROBLEM

    async def chunks():
        yield body

    _, headers = signed(company, "job.created", huge)
    response = await client.post(company.url, data=chunks(), headers=headers)
    assert response.status == 413
    assert await pool.fetchval("SELECT count(*) FROM ingest.webhook_deliveries") == 0


async def test_a_flood_gets_429_with_retry_after(company, client, send):
    from services.ingest.ratelimit import RateLimiter

    client.server.app[INGEST].limiter = RateLimiter(rate_per_s=1, burst=2)
    statuses = [(await send(company, "job.created", posting(f"p{i}")))[0] for i in range(4)]
    assert [r.status for r in statuses] == [202, 202, 429, 429]
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert statuses[2].content_type == PROBLEM


async def test_a_rotated_secret_keeps_the_old_one_working_for_the_grace_period(
    company, send, pool, settings, client
):
    from services.ingest import operators

    rotated = await operators.rotate_secret(pool, settings, uuid.UUID(company.id))
    assert rotated is not None
    client.server.app[INGEST].companies.clear()
    response, _ = await send(company, "job.created", posting("a"), secret=rotated["secret"])
    assert response.status == 202
    response, _ = await send(company, "job.created", posting("b"))  # the old one
    assert response.status == 202
    # Once the grace period is over, only the new secret works.
    await pool.execute(
        "UPDATE ingest.company_secrets SET expires_at = now() - interval '1 s'"
        " WHERE expires_at IS NOT NULL"
    )
    client.server.app[INGEST].companies.clear()
    response, body = await send(company, "job.created", posting("c"))
    assert response.status == 401
    assert "does not match" in body["detail"]
    response, _ = await send(company, "job.created", posting("c"), secret=rotated["secret"])
    assert response.status == 202


async def test_the_openapi_document_describes_the_endpoints_with_the_enforced_schemas(client):
    response = await client.get("/openapi.json")
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    post = doc["paths"]["/v1/hooks/{company_id}"]["post"]
    assert {"202", "400", "401", "404", "409", "413", "415", "422", "429", "503"} <= set(
        post["responses"]
    )
    from services.ingest.schemas import POSTING

    assert doc["components"]["schemas"]["Posting"]["properties"] == POSTING["properties"]
    json.dumps(doc)  # serialisable as served
