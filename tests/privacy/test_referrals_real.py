"""Referrals, forwards and members' privacy rights, end to end, in a running
stack: real ingest, matcher and notifier processes on the real servers, a
company's callback receiver verifying our signatures with ``standardwebhooks``,
the SMTP sink for the emails.

One scenario, because each step needs the ones before: two members matched to
one opening; one consents to a referral (delivered, signed), the other
requests one and withdraws it, forwards the opening to a colleague, exports
their data and is erased. Then every company-facing answer, every table of
every schema and every queue (dead-letter queues included) is searched for the
erased member's canary values.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from services.ingest import operators
from services.ingest.signing import sign
from shared.settings import Settings
from tests.helpers import eventually, free_port, the_three_services
from tests.notifier.real import Mailbox, domain

pytestmark = pytest.mark.real

X = {
    "name": "Zebulon Canaryname",
    "employer": "Canaryworks Quixotic SpA",
    "note": "Canarynote: I would love to support your board.",
}
Y = {"name": "Ottavia Ycanary", "note": "Ycanary note for the company."}


def profile(email: str, name: str, employer: str) -> dict[str, Any]:
    return {
        "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "2026-01"},
        "language": "en",
        "timezone": "Europe/Rome",
        "email": email,
        "name": name,
        "desired_roles": ["Executive Assistant"],
        "skills": ["SAP Concur"],
        "languages": ["it", "en"],
        "locations": {"cities": ["Milano"], "regions": ["Lombardia"], "country": "IT"},
        "remote": "hybrid",
        "seniority": "senior",
        "current_employer": employer,
        "notifications": {"frequency": "instant"},
    }


POSTING = {
    "external_id": "FB-REF-1",
    "title": "Assistente di Direzione",
    "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
    "remote": "hybrid",
    "languages_required": ["it", "en"],
    "skills": ["SAP Concur"],
    "seniority": "senior",
    "valid_through": "2099-12-31",
    "how_to_apply": {"url": "https://careers.example.it/FB-REF-1"},
}


class Receiver:
    """A company's callback endpoint, verifying our signature as a company would."""

    def __init__(self) -> None:
        self.secret = ""
        self.bodies: list[bytes] = []
        self.verified: list[dict[str, Any]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        verified = Webhook(self.secret).verify(body, dict(request.headers))
        self.verified.append(verified)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/referrals", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/referrals"


@pytest.fixture
async def stack(service_env, tmp_path, amqp, pool, settings):
    async with the_three_services(
        service_env,
        tmp_path,
        PASSAPAROLA_REFERRAL_HOLD_S="2",
        PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS="200,400",
    ) as running:
        yield running.url


def _links(text: str, base: str) -> dict[str, str]:
    return {k: f"{base}/{k}/{v}" for k, v in re.findall(rf"{base}/(i|f|u)/([A-Za-z0-9_-]+)", text)}


def _form(html: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_consent_referral_forward_export_erase(
    stack, pool, settings: Settings, amqp, namespace
) -> None:
    box = Mailbox(domain())
    x_email, y_email = f"zebulon.canary@{box.domain}", f"ottavia.ycanary@{box.domain}"
    colleague = f"colleague.canary@{box.domain}"
    receiver = Receiver()
    await receiver.start()
    company_answers: list[str] = []

    made = await operators.add_company(pool, settings, "Ferretti & Bianchi S.p.A.", [], None)
    company_id = made["company_id"]
    callback = await operators.set_callback(
        pool, settings, uuid.UUID(company_id), receiver.url, None
    )
    assert callback is not None and callback["delivery_secret"].startswith("whsec_")
    receiver.secret = callback["delivery_secret"]
    token = (await operators.add_token(pool, "community platform"))["token"]
    auth = {"Authorization": f"Bearer {token}"}

    async with aiohttp.ClientSession() as http:
        for external, email, name, employer in (
            ("x-1", x_email, X["name"], X["employer"]),
            ("y-1", y_email, Y["name"], "Some Other Srl"),
        ):
            async with http.put(
                f"{stack['ingest']}/v1/members/{external}",
                json=profile(email, name, employer),
                headers=auth,
            ) as resp:
                assert resp.status == 201, await resp.text()
        x_id = await pool.fetchval("SELECT id::text FROM ingest.members WHERE external_id = 'x-1'")

        async def indexed() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM matcher.members")
            m = await pool.fetchval("SELECT count(*) FROM notifier.members")
            return bool(n == 2 and m == 2)

        await eventually(indexed, what="both members in the matcher and the notifier")

        # The company's webhook, as a company sends it.
        body = json.dumps({"type": "job.created", "data": POSTING}).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(made["secret"], msg_id, ts, body),
        }
        async with http.post(
            f"{stack['ingest']}/v1/hooks/{company_id}", data=body, headers=headers
        ) as resp:
            assert resp.status == 202
            company_answers.append(await resp.text())
        async with http.get(f"{stack['ingest']}/openapi.json") as resp:
            company_answers.append(await resp.text())

        mails = await box.wait_for(2, timeout=60)
        by_rcpt = {m.rcpt_to[0]: _links(m.text("plain"), stack["notifier"]) for m in mails}
        x_links, y_links = by_rcpt[x_email], by_rcpt[y_email]

        # --- Y consents: the page shows exactly what the company receives.
        async with http.get(y_links["i"]) as resp:
            page = await resp.text()
            assert resp.status == 200
        assert Y["name"] in page and y_email in page and "Yes, refer me" in page
        # No form token, or a foreign Origin: nothing happens (CSRF).
        async with http.post(y_links["i"], data={"note": "forged"}) as resp:
            assert resp.status == 403
        async with http.post(
            y_links["i"],
            data={"note": "forged", "form": _form(page)},
            headers={"Origin": "https://evil.example"},
        ) as resp:
            assert resp.status == 403
        assert await pool.fetchval("SELECT count(*) FROM notifier.referrals") == 0
        async with http.post(
            y_links["i"],
            data={
                "note": Y["note"],
                "profile_url": "https://example.com/ottavia",
                "form": _form(page),
            },
        ) as resp:
            assert resp.status == 200
            assert "on its way" in await resp.text()

        # --- X requests one too, and withdraws it within the hold.
        async with http.get(x_links["i"]) as resp:
            x_page = await resp.text()
        async with http.post(
            x_links["i"], data={"note": X["note"], "profile_url": "", "form": _form(x_page)}
        ) as resp:
            done = await resp.text()
        async with http.post(f"{x_links['i']}/withdraw", data={"form": _form(done)}) as resp:
            assert "Referral withdrawn" in await resp.text()

        async def settled() -> bool:
            states = dict(await pool.fetch("SELECT member_id::text, state FROM ingest.referrals"))
            return states.get(x_id) == "withdrawn" and "delivered" in states.values()

        await eventually(settled, timeout=30, what="Y delivered, X withdrawn, at ingest")

        async def member_sees_delivered() -> bool:
            state = await pool.fetchval(
                "SELECT state FROM notifier.referrals WHERE state <> 'withdrawn'"
            )
            return state == "delivered"

        await eventually(member_sees_delivered, what="referral.settled at the notifier")
        assert len(receiver.verified) == 1, "exactly one referral reached the company"
        delivered = json.loads(receiver.bodies[0])
        assert delivered["data"]["candidate"] == {
            "name": Y["name"],
            "email": y_email,
            "note": Y["note"],
            "profile_url": "https://example.com/ottavia",
        }
        assert delivered["data"]["posting"]["external_id"] == "FB-REF-1"
        log = await pool.fetch("SELECT status FROM ingest.referral_attempts")
        assert [r["status"] for r in log] == [200]

        # --- X forwards the opening to a colleague; once a day per colleague.
        async with http.get(x_links["f"]) as resp:
            fpage = await resp.text()
        async with http.post(
            x_links["f"],
            data={"colleague": colleague, "note": "Thought of you!", "form": _form(fpage)},
        ) as resp:
            assert resp.status == 200
        async with http.post(
            x_links["f"], data={"colleague": colleague, "form": _form(fpage)}
        ) as resp:
            assert resp.status == 429
        # Two openings, Y's confirmation that the referral was delivered, the forward.
        mails = await box.wait_for(4)
        forwarded = [m for m in mails if m.rcpt_to[0] == colleague]
        (confirmation,) = [
            m
            for m in mails
            if m.rcpt_to[0] == y_email
            and "/i/" in m.text("plain")
            and "has received your referral" in m.text("plain")
        ]
        assert "Ferretti & Bianchi S.p.A." in confirmation.text("plain")
        assert Y["note"] not in confirmation.text("plain")
        text = forwarded[0].text("plain")
        assert X["name"] in text and "Thought of you!" in text
        assert settings.community_join_url in text
        never = re.search(rf"{stack['notifier']}/x/[A-Za-z0-9_-]+", text)
        assert never is not None
        async with http.post(never.group(0)) as resp:
            assert resp.status == 200
        assert await pool.fetchval("SELECT count(*) FROM notifier.colleague_optouts") == 1

        # --- X's data export, as the platform asks for it.
        async with http.post(f"{stack['ingest']}/v1/members/x-1/export", headers=auth) as resp:
            assert resp.status == 202
            location = (await resp.json())["location"]
        export: dict[str, Any] = {}

        async def exported() -> bool:
            async with http.get(f"{stack['ingest']}{location}", headers=auth) as resp:
                if resp.status == 200:
                    export.update(await resp.json())
                return resp.status == 200

        await eventually(exported, what="every service's part of the export")
        assert export["ingest"]["profile"]["contact"] == {"email": x_email, "name": X["name"]}
        assert export["ingest"]["consent_history"][0]["text_version"] == "2026-01"
        assert [m["state"] for m in export["matcher"]["matches"]] == ["active"]
        assert len(export["notifier"]["notifications"]) == 1
        assert [r["state"] for r in export["notifier"]["referrals"]] == ["withdrawn"]
        assert export["notifier"]["forwards"][0]["colleague"].startswith("not kept")
        audit = await pool.fetch("SELECT actor, action FROM ingest.audit_log")
        assert [dict(a) for a in audit] == [
            {"actor": "token:community platform", "action": "member.export"}
        ]

        # --- Company-facing answers never carried X (nor Y before consent).
        company_answers += [b.decode() for b in receiver.bodies]
        for canary in (X["name"], x_email, X["employer"], X["note"], colleague):
            for answer in company_answers:
                assert canary not in answer

        # --- X is erased; then nothing anywhere says who X was.
        async with http.delete(f"{stack['ingest']}/v1/members/x-1", headers=auth) as resp:
            assert resp.status == 204

        async def forgotten() -> bool:
            m = await pool.fetchval(
                "SELECT count(*) FROM matcher.erased_members WHERE member_id = $1", x_id
            )
            n = await pool.fetchval(
                "SELECT count(*) FROM notifier.erased_members WHERE member_id = $1", x_id
            )
            return bool(m and n)

        await eventually(forgotten, what="member.erased handled by matcher and notifier")
        await asyncio.sleep(1.0)  # let the outbox relays finish what they were doing

    canaries = [X["name"], x_email, X["employer"], X["note"], colleague]
    hits = await _search_tables(pool, canaries) + await _search_queues(
        settings, namespace, canaries
    )
    assert hits == [], hits
    assert await pool.fetchval("SELECT sum(erased) FROM ingest.erasure_counts") == 1


async def _search_tables(pool, canaries: list[str]) -> list[str]:
    tables = await pool.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema IN ('ingest', 'matcher', 'notifier', 'public')"
        " AND table_type = 'BASE TABLE'"
    )
    forms = [(c, c.lower()) for c in canaries] + [(c, c.encode().hex()) for c in canaries]
    hits: list[str] = []
    for t in tables:
        rows = await pool.fetch(
            f'SELECT row_to_json(t)::text AS j FROM "{t["table_schema"]}"."{t["table_name"]}" t'  # noqa: S608
        )
        for row in rows:
            text = row["j"].lower()
            hits += [f"{t['table_schema']}.{t['table_name']}: {c}" for c, f in forms if f in text]
    return hits


async def _search_queues(settings: Settings, namespace: str, canaries: list[str]) -> list[str]:
    parts = urlsplit(settings.amqp_url)
    vhost = quote(parts.path.lstrip("/") or "/", safe="")
    auth = {"Authorization": aiohttp.encode_basic_auth(parts.username or "", parts.password or "")}
    api = settings.rabbitmq_management_url.rstrip("/") + "/api"
    hits: list[str] = []
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{api}/queues/{vhost}", params={"columns": "name"}) as resp:
            names = [q["name"] for q in await resp.json() if q["name"].startswith(namespace)]
        assert any(n.endswith(".dlq") for n in names)
        for name in names:
            async with http.post(
                f"{api}/queues/{vhost}/{quote(name, safe='')}/get",
                json={"count": 10000, "ackmode": "ack_requeue_true", "encoding": "auto"},
            ) as resp:
                messages = await resp.json()
            for message in messages:
                payload = str(message.get("payload", "")) + json.dumps(message.get("properties"))
                hits += [f"queue {name}: {c}" for c in canaries if c.lower() in payload.lower()]
    return hits
