"""The member API and the CSV import against the real database."""

from __future__ import annotations

import copy
import io
import json

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.ingest import operators, views
from shared import logs, member_companies
from shared.events import Envelope, MemberChanged, MemberErased
from shared.http import problem_middleware
from shared.sealing import Sealer, sealer_for
from shared.service import Runtime
from tests.ingest.conftest import posting, signed

pytestmark = pytest.mark.real

CANARY_EMAIL = "giulia.canary@example.it"
CANARY_NAME = "Giulia Canarino"

PROFILE = {
    "consent": {"opted_in": True, "at": "2026-11-01T10:00:00+01:00", "text_version": "2026-10"},
    "language": "it",
    "timezone": "Europe/Rome",
    "email": CANARY_EMAIL,
    "name": CANARY_NAME,
    "desired_roles": ["Executive Assistant", "Assistente di direzione"],
    "skills": ["SAP Concur", "board minutes"],
    "languages": ["it", "en", "fr"],
    "locations": {"cities": ["Milano"], "regions": ["Lombardia"], "country": "IT"},
    "remote": "hybrid",
    "seniority": "senior",
    "current_employer": "Ferretti & Bianchi S.p.A.",
    "employer_group": "Gruppo Ferretti",
    "blocked_companies": ["Rossi Holding"],
    "notifications": {"frequency": "daily", "quiet_hours": {"start": "21:00", "end": "08:00"}},
}


@pytest.fixture
async def token(pool):
    return (await operators.add_token(pool, "community platform"))["token"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


async def events(pool):
    rows = await pool.fetch("SELECT body FROM ingest.outbox ORDER BY id")
    return [bytes(r["body"]) for r in rows]


async def test_a_new_member_is_stored_sealed_and_announced_without_identifiers(
    client, token, pool, settings
):
    response = await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))
    body = await response.json()
    assert response.status == 201
    assert (body["outcome"], body["revision"]) == ("created", 1)
    (raw,) = await events(pool)
    assert CANARY_EMAIL.encode() not in raw
    assert CANARY_NAME.encode() not in raw
    member = Envelope.decode(raw).payload(MemberChanged)
    assert member.member_id == body["member_id"]
    assert member.opted_in is True
    assert member.desired_roles == ("Executive Assistant", "Assistente di direzione")
    # The companies travel sealed only (member.changed v2), opened by a consumer.
    for company in ("Ferretti", "Rossi Holding"):
        assert company.encode() not in raw
    assert (member.employer_names, member.blocked_companies) == ((), ())
    opened = member_companies.opened(member, sealer_for(settings.secret_keys))
    assert opened.employer_names == ("Ferretti & Bianchi S.p.A.", "Gruppo Ferretti")
    assert opened.blocked_companies == ("Rossi Holding",)
    assert member.frequency == "daily"
    assert member.quiet_hours == ("21:00", "08:00")
    assert member.sealed_contact is not None
    assert Sealer([settings.secret_key]).open(member.sealed_contact) == {
        "email": CANARY_EMAIL,
        "name": CANARY_NAME,
    }
    # At rest too, a dump of the table does not say who the member is.
    dump = json.dumps(
        [dict(r) for r in await pool.fetch("SELECT * FROM ingest.members")], default=str
    )
    assert CANARY_EMAIL not in dump
    assert CANARY_NAME not in dump
    consents = await pool.fetch("SELECT opted_in, text_version FROM ingest.member_consents")
    assert [tuple(c) for c in consents] == [(True, "2026-10")]


async def test_the_same_profile_again_changes_nothing(client, token, pool):
    await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))
    response = await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))
    assert response.status == 200
    assert (await response.json())["outcome"] == "unchanged"
    assert len(await events(pool)) == 1


async def test_an_opt_out_is_a_new_revision_with_its_consent_record(client, token, pool):
    await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))
    out = copy.deepcopy(PROFILE)
    out["consent"] = {
        "opted_in": False,
        "at": "2026-11-20T09:00:00+01:00",
        "text_version": "2026-10",
    }
    response = await client.put("/v1/members/u-1", json=out, headers=auth(token))
    body = await response.json()
    assert (response.status, body["outcome"], body["revision"]) == (200, "updated", 2)
    last = Envelope.decode((await events(pool))[-1]).payload(MemberChanged)
    assert (last.revision, last.opted_in) == (2, False)
    assert await pool.fetchval("SELECT count(*) FROM ingest.member_consents") == 2


async def test_erasure_removes_the_member_and_announces_it(client, token, pool):
    created = await (await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))).json()
    response = await client.delete("/v1/members/u-1", headers=auth(token))
    assert response.status == 204
    erased = Envelope.decode((await events(pool))[-1]).payload(MemberErased)
    assert erased.member_id == created["member_id"]
    assert await pool.fetchval("SELECT count(*) FROM ingest.members") == 0
    assert await pool.fetchval("SELECT count(*) FROM ingest.member_consents") == 0
    again = await client.delete("/v1/members/u-1", headers=auth(token))
    assert again.status == 404


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer nope"}, "unknown or revoked"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
    ],
)
async def test_the_member_api_needs_a_live_token(client, token, headers, reason):
    response = await client.put("/v1/members/u-1", json=PROFILE, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert reason in (await response.json(content_type=None))["detail"]


async def test_a_revoked_token_stops_working(client, pool):
    made = await operators.add_token(pool, "old platform")
    from services.ingest import queries

    async with pool.acquire() as conn:
        await queries.revoke_token(conn, __import__("uuid").UUID(made["token_id"]))
    response = await client.put("/v1/members/u-1", json=PROFILE, headers=auth(made["token"]))
    assert response.status == 401


async def test_profile_errors_name_the_fields_but_never_echo_the_values(client, token):
    bad = copy.deepcopy(PROFILE)
    bad["email"] = "giulia.canary-at-example"
    bad["timezone"] = "Europe/Atlantis"
    bad["phone"] = "+39 333 1234567"
    response = await client.put("/v1/members/u-1", json=bad, headers=auth(token))
    text = await response.text()
    assert response.status == 422
    assert "giulia.canary" not in text
    assert "+39 333" not in text
    fields = {e["field"] for e in json.loads(text)["errors"]}
    assert "Atlantis" not in text
    # Every problem at once: the time zone is checked beside the schema's rules.
    assert fields == {"email", "phone", "timezone"}


async def test_personal_data_never_reaches_the_log(client, token, pool):
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    try:
        await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))
        changed = copy.deepcopy(PROFILE)
        changed["skills"] = ["Excel"]
        await client.put("/v1/members/u-1", json=changed, headers=auth(token))
        await client.delete("/v1/members/u-1", headers=auth(token))
    finally:
        logs.configure("info", "json")
    text = out.getvalue()
    assert "member saved" in text
    for canary in (CANARY_EMAIL, CANARY_NAME, "Canarino", "u-1", "Ferretti"):
        assert canary not in text


async def test_the_database_down_gives_503_with_retry_after(settings, amqp, topology, company):
    pool = await asyncpg.create_pool("postgresql://nobody:x@127.0.0.1:9/none", min_size=0)
    runtime = Runtime("ingest", settings, pool, amqp, None, topology)  # type: ignore[arg-type]
    app = web.Application(middlewares=[problem_middleware])
    views.routes(app, runtime)
    async with TestClient(TestServer(app)) as down:
        body, headers = signed(company, "job.created", posting())
        response = await down.post(company.url, data=body, headers=headers)
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert response.content_type == "application/problem+json"
        response = await down.put(
            "/v1/members/u-1", json=PROFILE, headers={"Authorization": "Bearer x"}
        )
        assert response.status == 503
    await pool.close()


CSV_HEADER = (
    "external_id,email,name,language,timezone,desired_roles,skills,languages,cities,"
    "regions,country,remote,seniority,current_employer,employer_group,"
    "blocked_companies,frequency,quiet_hours,opted_in,consent_at,consent_text_version"
)


async def test_a_csv_import_takes_the_good_rows_and_says_why_it_refused_the_others(pool, settings):
    lines = [
        CSV_HEADER,
        "m-1,anna@example.se,Anna Berg,sv,Europe/Stockholm,Ledningsassistent;VD-assistent,"
        "Excel,sv;en,Stockholm,,SE,hybrid,senior,Volvo AB,,,weekly,22:00-07:00,yes,"
        "2026-10-01T12:00:00Z,2026-10",
        "m-2,not-an-email,Marco Neri,it,Europe/Rome,Segretario di direzione,,it,Roma,Lazio,IT,no,"
        "mid,,,,daily,,yes,2026-10-01T12:00:00Z,2026-10",
        ",x@example.com,No Id,en,,PA,,en,London,,GB,remote,,,,,instant,,yes,"
        "2026-10-01T12:00:00Z,v1",
        "m-4,ok@example.com,Ok Person,xx,,PA,,en,London,,GB,remote,,,,,instant,,yes,"
        "2026-10-01T12:00:00Z,v1",
    ]
    imported, rejected = await operators.import_members(pool, settings, lines)
    assert imported == 1
    assert [(r.row, r.reasons) for r in rejected] == [
        (3, ["email: must be a valid email"]),
        (4, ["external_id: is required"]),
        (5, ["language: must be one of: it, sv, en"]),
    ]
    member = Envelope.decode((await events(pool))[0]).payload(MemberChanged)
    assert member.desired_roles == ("Ledningsassistent", "VD-assistent")
    assert member.quiet_hours == ("22:00", "07:00")
    assert member.frequency == "weekly"


async def test_a_csv_import_commits_in_batches_and_loses_no_row(pool, settings, monkeypatch):
    monkeypatch.setattr(operators, "IMPORT_BATCH", 3)
    lines = [CSV_HEADER] + [
        f"b-{i},b{i}@example.com,Batch Person {i},en,,PA,,en,London,,GB,remote,,,,,instant,,yes,"
        "2026-10-01T12:00:00Z,v1"
        for i in range(7)
    ]
    lines.insert(4, "b-x,not-an-email,Bad Row,en,,PA,,en,London,,GB,remote,,,,,instant,,yes,,v1")
    imported, rejected = await operators.import_members(pool, settings, lines)
    assert imported == 7
    assert [r.row for r in rejected] == [5]
    assert await pool.fetchval("SELECT count(*) FROM ingest.members") == 7
    assert len(await events(pool)) == 7


async def test_erasure_removes_the_members_dead_letters_and_only_theirs(
    client, token, amqp, topology
):
    from shared import dlq
    from shared.topology import MATCHER

    created = await (await client.put("/v1/members/u-1", json=PROFILE, headers=auth(token))).json()
    channel = await amqp.channel()
    await topology.declare_all(channel)
    exchange = await channel.get_exchange(topology.dead_letter_exchange)
    for member_id, message_id in ((created["member_id"], "about-her"), ("someone-else", "other")):
        body = json.dumps(
            {
                "specversion": "1.0",
                "type": "member.changed",
                "data": {"member_id": member_id, "employer_names": ["Ferretti"]},
            }
        )
        await exchange.publish(
            aio_pika.Message(body.encode(), message_id=message_id),
            routing_key=topology.queue(MATCHER),
        )
    response = await client.delete("/v1/members/u-1", headers=auth(token))
    assert response.status == 204
    left = await dlq.peek(amqp, topology.dead_letter_queue(MATCHER))
    assert [letter.message_id for letter in left] == ["other"]
