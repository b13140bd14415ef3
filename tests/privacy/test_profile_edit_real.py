"""A member's edit on the preference page changes what the matcher matches,
end to end in a running stack: real ingest, matcher and notifier processes on
the real servers. The edit travels notifier -> ``profile.edited`` (sealed) ->
ingest, the profile's owner -> ``member.changed`` (next revision) -> matcher.

Before the edit the member looks for a chef's job and matches no assistant
opening; after it (executive assistant, one company blocked under another
spelling of its name) an opening for the new role reaches them, and one from
the blocked company does not. Hostile input on the new form fields is a 400
with the member's own words, never a 500.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.ingest import operators
from services.ingest.signing import sign
from services.notifier import tokens
from services.notifier.sender import link_key
from shared.events import Envelope, ProfileEdited
from shared.publisher import Publisher
from shared.sealing import sealer_for
from shared.settings import Settings
from tests.helpers import eventually, the_three_services

pytestmark = pytest.mark.real

PROFILE: dict[str, Any] = {
    "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "2026-01"},
    "language": "it",
    "timezone": "Europe/Rome",
    "email": "edit.canary@example.org",
    "name": "Edita Canarini",
    "desired_roles": ["Chef"],
    "languages": ["it", "en"],
    "locations": {"cities": ["Milano"], "regions": ["Lombardia"], "country": "IT"},
    "remote": "hybrid",
    "seniority": "senior",
    "notifications": {"frequency": "instant"},
}


def posting(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "title": "Assistente di Direzione",
        "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
        "remote": "hybrid",
        "languages_required": ["it"],
        "seniority": "senior",
        "valid_through": "2099-12-31",
    }


@pytest.fixture
async def stack(service_env, tmp_path, amqp, pool):
    async with the_three_services(service_env, tmp_path) as running:
        yield running.url


def _form(html: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _post_job(http, ingest: str, company: dict[str, Any], data: dict[str, Any]) -> None:
    body = json.dumps({"type": "job.created", "data": data}).encode()
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(company["secret"], msg_id, ts, body),
    }
    async with http.post(
        f"{ingest}/v1/hooks/{company['company_id']}", data=body, headers=headers
    ) as resp:
        assert resp.status == 202, await resp.text()


async def _matched(pool, member_id: str, external_id: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT true FROM matcher.matches m JOIN ingest.postings p ON p.id::text ="
            " m.posting_id WHERE m.member_id = $1 AND p.external_id = $2 AND m.state = 'active'",
            member_id,
            external_id,
        )
    )


async def test_an_edit_on_the_page_changes_what_the_matcher_matches(
    stack, pool, settings: Settings, amqp, topology
) -> None:
    blocked = await operators.add_company(pool, settings, "Ferretti & Bianchi S.p.A.", [], None)
    other = await operators.add_company(pool, settings, "Lumen Consulting Srl", [], None)
    token = (await operators.add_token(pool, "community platform"))["token"]
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{stack['ingest']}/v1/members/e-1",
            json=PROFILE,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        member_id = await pool.fetchval(
            "SELECT id::text FROM ingest.members WHERE external_id = 'e-1'"
        )

        async def known() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) FROM notifier.members")
                and await pool.fetchval("SELECT count(*) FROM matcher.members")
            )

        await eventually(known, what="the member in the matcher and the notifier")

        # Looking for a chef's job: an assistant opening is not for them.
        await _post_job(http, stack["ingest"], other, posting("BEFORE-1"))

        async def seen(external_id: str) -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM matcher.postings m JOIN ingest.postings p"
                    " ON p.id::text = m.posting_id WHERE p.external_id = $1",
                    external_id,
                )
            )

        await eventually(lambda: seen("BEFORE-1"), what="the first opening at the matcher")
        assert not await _matched(pool, member_id, "BEFORE-1")

        # The member edits their profile on the page, as a browser posts it.
        link_id = await pool.fetchval("SELECT link_id FROM notifier.members")
        action = tokens.Action.PREFERENCES
        link = tokens.issue(
            link_key(settings.secret_key), action, link_id, tokens.DEFAULT_TTL[action]
        )
        url = f"{stack['notifier']}/p/{link}"
        async with http.get(url) as resp:
            page = await resp.text()
        assert 'value="chef"' not in page  # not a role this community looks for...
        assert 'name="role_keep" value="Chef" checked' in page  # ...but kept as sent
        # Italian page, Italian role names.
        assert "Assistente di direzione" in page and "Executive Assistant" not in page
        edit = [
            ("form", _form(page)),
            ("role", "executive-assistant"),
            ("cities", "Milano"),
            ("remote", "hybrid"),
            ("spoken", "it"),
            ("spoken", "en"),
            ("blocked", "FERRETTI & BIANCHI SpA"),
        ]
        async with http.post(f"{url}/profile", data=edit) as resp:
            assert resp.status == 200
            assert "ora in poi cerchiamo" in await resp.text()

        async def applied() -> bool:
            row = await pool.fetchrow(
                "SELECT revision, profile FROM matcher.members WHERE member_id = $1", member_id
            )
            return row is not None and row["revision"] == 2

        await eventually(applied, what="the edit at the matcher as revision 2")
        stored = await pool.fetchval(
            "SELECT profile FROM ingest.members WHERE id::text = $1", member_id
        )
        assert stored["desired_roles"] == ["Executive Assistant"]
        assert stored["blocked_companies"] == ["FERRETTI & BIANCHI SpA"]
        assert stored["remote"] == "hybrid" and stored["seniority"] == "senior"

        # Blocked company first, then the other: one queue, in order, so when
        # the second is matched the first was decided.
        await _post_job(http, stack["ingest"], blocked, posting("AFTER-BLOCKED"))
        await _post_job(http, stack["ingest"], other, posting("AFTER-OTHER"))
        await eventually(
            lambda: _matched(pool, member_id, "AFTER-OTHER"), what="the new role matched"
        )
        assert not await _matched(pool, member_id, "AFTER-BLOCKED")

        # The edit's own event carries it sealed only; so does the
        # member.changed ingest publishes after it (companies sealed, v2).
        bodies = await pool.fetch(
            "SELECT body FROM notifier.outbox WHERE routing_key = 'profile.edited'"
        )
        assert len(bodies) == 1
        assert b"FERRETTI" not in bytes(bodies[0]["body"])
        assert b"Assistant" not in bytes(bodies[0]["body"])
        changes = await pool.fetch(
            "SELECT body FROM ingest.outbox WHERE routing_key LIKE 'member.changed%'"
        )
        assert len(changes) == 2
        assert not any(b"FERRETTI" in bytes(c["body"]) for c in changes)

        # The notifier opened it: its preference page shows the blocked company.
        async def shown() -> bool:
            profile = await pool.fetchval(
                "SELECT profile FROM notifier.members WHERE member_id = $1 AND revision = 2",
                member_id,
            )
            return profile is not None and profile["blocked_companies"] == [
                "FERRETTI & BIANCHI SpA"
            ]

        await eventually(shown, what="the blocked company in the notifier's profile copy")

        # An older edit arriving late (a replay, a second ingest process) is
        # not applied over the newer one.
        older = ProfileEdited(
            member_id=member_id,
            edited_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            sealed_edit=sealer_for(settings.secret_keys).seal(
                {**stored, "desired_roles": ["Chef"]}
            ),
        )
        envelope = Envelope.wrap(older, source="/tests")
        await (await Publisher.create(await amqp.channel(), topology)).publish(envelope)

        async def handled() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT true FROM ingest.inbox WHERE event_id = $1", envelope.id
                )
            )

        await eventually(handled, what="the late edit handled by ingest")
        row = await pool.fetchrow(
            "SELECT revision, profile FROM ingest.members WHERE external_id = 'e-1'"
        )
        assert row["revision"] == 2 and row["profile"]["desired_roles"] == ["Executive Assistant"]


LINES = st.text(st.characters(codec="utf-8"), max_size=300)


async def test_hostile_input_on_the_new_fields_is_never_a_500(stack, pool, settings) -> None:
    token = (await operators.add_token(pool, "community platform"))["token"]
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{stack['ingest']}/v1/members/e-2",
            json=PROFILE,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 201

        async def known() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM notifier.members"))

        await eventually(known, what="the member at the notifier")
        link_id = await pool.fetchval("SELECT link_id FROM notifier.members")
        action = tokens.Action.PREFERENCES
        link = tokens.issue(
            link_key(settings.secret_key), action, link_id, tokens.DEFAULT_TTL[action]
        )
        url = f"{stack['notifier']}/p/{link}"
        async with http.get(url) as resp:
            form = _form(await resp.text())

        @examples(
            max_examples=40,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            st.lists(
                st.tuples(
                    st.sampled_from(["role", "role_keep", "cities", "remote", "spoken", "blocked"]),
                    LINES,
                ),
                max_size=12,
            )
        )
        def fields(pairs: list[tuple[str, str]]) -> None:
            collected.append(pairs)

        collected: list[list[tuple[str, str]]] = []
        fields()
        statuses: set[int] = set()
        for pairs in collected:
            # As generated, and with a valid remote choice, so that the fields
            # checked after it meet the hostile text too.
            others = [(name, value) for name, value in pairs if name != "remote"]
            for data in (pairs, [*others, ("remote", "hybrid")]):
                async with http.post(f"{url}/profile", data=[("form", form), *data]) as resp:
                    body = await resp.text()
                    assert resp.status in (200, 400), (resp.status, body[:300])
                    assert "Traceback" not in body
                    if resp.status == 400:
                        assert 'role="alert"' in body
                    statuses.add(resp.status)
        assert statuses == {200, 400}
        # Without a copy of the profile (a member not updated since the
        # notifier keeps one) the page offers no form and a post is refused.
        await pool.execute("UPDATE notifier.members SET profile = '{}'")
        async with http.get(url) as resp:
            page = await resp.text()
        assert '/profile"' not in page and "Dopo il prossimo aggiornamento" in page
        assert 'id="profile"' in page
        before = await pool.fetchval("SELECT count(*) FROM notifier.outbox")
        async with http.post(f"{url}/profile", data=[("form", form), ("remote", "no")]) as resp:
            assert resp.status == 400
        assert await pool.fetchval("SELECT count(*) FROM notifier.outbox") == before
        assert await pool.fetchval("SELECT profile FROM notifier.members") == {}
        # A cross-site post changes nothing.
        async with http.post(
            f"{url}/profile",
            data=[("form", form), ("remote", "remote")],
            headers={"Origin": "https://evil.example"},
        ) as resp:
            assert resp.status == 403
        async with http.post(f"{url}/profile", data=[("remote", "remote")]) as resp:
            assert resp.status == 403
