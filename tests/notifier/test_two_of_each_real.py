"""Competing consumers with real processes: two ingest and two notifier
processes (and one matcher) side by side on the same database and broker
namespace, as KEDA would run them (docs/scaling.md).

Openings arrive through signed webhooks split between the two ingest
processes, concurrently; members are some instant, some daily. Every posting
must be stored once, every (member, opening) told in exactly one email, every
daily member sent exactly one digest, a consented referral delivered to the
company exactly once, and nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from typing import Any

import aio_pika
import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.ingest import operators
from services.ingest.signing import sign
from shared import dlq
from shared.settings import Settings
from shared.topology import SERVICE_QUEUES, Topology
from tests.helpers import ServiceProcess, eventually, free_port
from tests.notifier.real import Mail, Mailbox, domain

pytestmark = pytest.mark.real

MEMBERS = 8  # even: instant, daily, instant, daily, ...
# Alternately to the two ingest processes; within the matcher's cap of new
# openings per member and week (services/matcher/weights.py), so every fit is told.
POSTINGS = 4
MESSAGE_ID = re.compile(r"<([0-9a-f-]{36})@")


def member_profile(address: str, frequency: str) -> dict[str, Any]:
    return {
        "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "2026-01"},
        "language": "en",
        "timezone": "Europe/Rome",
        "email": address,
        "name": "Competing Member",
        "desired_roles": ["Executive Assistant"],
        "skills": ["SAP Concur"],
        "languages": ["it", "en"],
        "locations": {"cities": ["Milano"], "regions": ["Lombardia"], "country": "IT"},
        "remote": "hybrid",
        "seniority": "senior",
        "current_employer": "Some Other Srl",
        # Instant without quiet hours: due at once; daily: due at the next 08:00.
        "notifications": {"frequency": frequency},
    }


def posting(j: int) -> dict[str, Any]:
    return {
        "external_id": f"TWO-{j}",
        "title": "Assistente di Direzione",
        "description": f"Opening {j}, sent to one of two ingest processes.",
        "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
        "remote": "hybrid",
        "languages_required": ["it", "en"],
        "skills": ["SAP Concur"],
        "seniority": "senior",
        "valid_through": "2099-12-31",
        "how_to_apply": {"url": f"https://careers.example.it/TWO-{j}"},
    }


@pytest.fixture
async def two_of_each(service_env, tmp_path, amqp, pool):
    """2 ingest, 1 matcher, 2 notifier processes; each its own ports."""
    shared_env = {
        **service_env,
        "PASSAPAROLA_REFERRAL_HOLD_S": "1",
        "PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS": "200,400",
        "PASSAPAROLA_NOTIFIER_WEEKLY_CAP": "1000",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "1000",
        "PASSAPAROLA_WEBHOOK_BURST": "1000",
    }
    processes: dict[str, ServiceProcess] = {}
    for name in ("ingest-a", "ingest-b", "matcher", "notifier-a", "notifier-b"):
        service = name.split("-")[0]
        port = free_port()
        env = {**shared_env, f"PASSAPAROLA_{service.upper()}_PORT": str(port)}
        if service == "notifier":
            # Links in the emails point at the notifier that wrote them; either serves them.
            env["PASSAPAROLA_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        processes[name] = ServiceProcess(
            ["-m", f"services.{service}"], env, port, tmp_path / f"{name}.log"
        )
    try:
        await asyncio.gather(*(p.start() for p in processes.values()))
        yield processes
    finally:
        for process in processes.values():
            process.kill()


def url(process: ServiceProcess) -> str:
    return f"http://127.0.0.1:{process.port}"


async def counter(http: aiohttp.ClientSession, process: ServiceProcess, name: str) -> Counter[str]:
    """One counter of a process's operator /metrics, summed by its labels (as text)."""
    async with http.get(f"http://127.0.0.1:{process.operator_port}/metrics") as resp:
        text = await resp.text()
    totals: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_total":
                totals[",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))] += int(
                    sample.value
                )
    return totals


async def send_webhook(
    http: aiohttp.ClientSession, ingest: ServiceProcess, company_id: str, secret: str, j: int
) -> dict[str, Any]:
    body = json.dumps({"type": "job.created", "data": posting(j)}).encode()
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }
    async with http.post(f"{url(ingest)}/v1/hooks/{company_id}", data=body, headers=headers) as r:
        assert r.status == 202, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer


def email_id(mail: Mail) -> str:
    found = MESSAGE_ID.match(str(mail.message["Message-ID"]))
    assert found, mail.message["Message-ID"]
    return found.group(1)


def _form(html: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', html)
    assert found, "the referral page has its form token"
    return found.group(1)


async def test_two_ingest_and_two_notifier_processes_send_everything_exactly_once(
    two_of_each, pool, settings: Settings, namespace: str
) -> None:
    box = Mailbox(domain())
    hr = f"hr@{box.domain}"
    made = await operators.add_company(
        pool, settings, "Ferretti & Bianchi S.p.A.", [], None, contact_email=hr
    )
    company_id, secret = str(made["company_id"]), str(made["secret"])
    token = (await operators.add_token(pool, "community platform"))["token"]
    ingests = [two_of_each["ingest-a"], two_of_each["ingest-b"]]
    notifiers = [two_of_each["notifier-a"], two_of_each["notifier-b"]]

    async with aiohttp.ClientSession() as http:
        # --- members, through the member API of either ingest process.
        address_of: dict[str, str] = {}  # member id -> address
        frequency_of: dict[str, str] = {}
        for i in range(MEMBERS):
            address, frequency = f"m{i}@{box.domain}", ("instant", "daily")[i % 2]
            async with http.put(
                f"{url(ingests[i % 2])}/v1/members/two-{i}",
                json=member_profile(address, frequency),
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 201, await resp.text()
                member_id = str((await resp.json())["member_id"])
            address_of[member_id] = address
            frequency_of[member_id] = frequency
        member_of = {a: m for m, a in address_of.items()}
        daily = {m for m, f in frequency_of.items() if f == "daily"}

        async def indexed() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM matcher.members")
            m = await pool.fetchval("SELECT count(*) FROM notifier.members")
            return bool(n == MEMBERS and m == MEMBERS)

        await eventually(indexed, timeout=60, what="every member in the matcher and notifier")

        # --- openings, concurrently, alternately through the two ingest processes.
        answers = await asyncio.gather(
            *(send_webhook(http, ingests[j % 2], company_id, secret, j) for j in range(POSTINGS))
        )
        posting_ids = {str(a["posting_id"]) for a in answers}
        assert len(posting_ids) == POSTINGS
        stored = await pool.fetch("SELECT id::text, external_id FROM ingest.postings")
        assert sorted(r["external_id"] for r in stored) == sorted(
            f"TWO-{j}" for j in range(POSTINGS)
        ), "every posting stored exactly once"
        for ingest in ingests:
            accepted = await counter(http, ingest, "passaparola_webhook_requests")
            assert sum(v for k, v in accepted.items() if "status=202" in k) == POSTINGS // 2

        # --- every (member, opening) becomes one notification.
        expected = {(m, p) for m in address_of for p in posting_ids}

        async def all_matched() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM notifier.notifications")
            return bool(n >= len(expected))

        await eventually(all_matched, timeout=60, what="every match at the notifier")
        rows = await pool.fetch("SELECT member_id, posting_id FROM notifier.notifications")
        pairs = Counter((r["member_id"], r["posting_id"]) for r in rows)
        assert set(pairs) == expected and max(pairs.values()) == 1

        # --- the digest slot arrives for the daily members (tests cannot wait until 08:00).
        await pool.execute(
            "UPDATE notifier.notifications SET due_at = now()"
            " WHERE member_id = ANY($1::text[]) AND state = 'pending'",
            sorted(daily),
        )

        async def all_sent() -> bool:
            # The sink has a mail a moment before the sender records the 250.
            states = await pool.fetch("SELECT state FROM notifier.notifications")
            return all(r["state"] == "sent" for r in states)

        await eventually(all_sent, timeout=90, what="every notification sent")
        emails = {
            str(r["id"]): (r["member_id"], r["kind"])
            for r in await pool.fetch("SELECT id, member_id, kind, state FROM notifier.emails")
        }
        in_emails = await pool.fetch(
            "SELECT member_id, posting_id, email_id::text FROM notifier.notifications"
        )
        member_mails = await box.wait_for(len(emails), timeout=60)
        member_mails = [m for m in member_mails if m.rcpt_to != (hr,)]

        # Each email in the sink once, to its member; together they tell every pair once.
        ids = Counter(email_id(m) for m in member_mails)
        assert set(ids) == set(emails) and max(ids.values()) == 1, "each email sent once"
        for mail in member_mails:
            assert mail.rcpt_to == (address_of[emails[email_id(mail)][0]],)
        assert {(r["member_id"], r["posting_id"]) for r in in_emails} == expected
        assert all(r["email_id"] in ids for r in in_emails)
        kinds = Counter(kind for _, kind in emails.values())
        assert kinds["daily"] == len(daily), "exactly one digest per daily member"
        assert {m for m, k in emails.values() if k == "daily"} == daily
        assert {m for m, k in emails.values() if k == "instant"} == set(address_of) - daily

        # Both notifier processes consumed match events (round-robin between the two
        # consumers of one queue); between them they counted every email sent once.
        sent = 0
        for notifier in notifiers:
            consumed = await counter(http, notifier, "passaparola_events_consumed")
            assert sum(v for k, v in consumed.items() if "queue=notifier" in k) > 0
            mails = await counter(http, notifier, "passaparola_emails")
            sent += sum(v for k, v in mails.items() if "outcome=sent" in k)
        assert sent == len(emails)

        # --- a referral, consented at either notifier, reaches the company once.
        instant_mail = next(m for m in member_mails if emails[email_id(m)][1] == "instant")
        link = re.search(r"http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_-]+", instant_mail.text("plain"))
        assert link, "an instant email has its interested link"
        async with http.get(link.group(0)) as resp:
            page = await resp.text()
            assert resp.status == 200
        async with http.post(
            link.group(0), data={"note": "Happy to talk.", "profile_url": "", "form": _form(page)}
        ) as resp:
            assert resp.status == 200

        async def delivered() -> bool:
            state = await pool.fetchval("SELECT state FROM ingest.referrals")
            return bool(state == "delivered")

        await eventually(delivered, timeout=60, what="the referral delivered at ingest")

        async def member_sees_delivered() -> bool:
            # The round trip back (referral.settled) also gives a second
            # delivery by the other ingest process time to show up.
            state = await pool.fetchval("SELECT state FROM notifier.referrals")
            return bool(state == "delivered")

        await eventually(member_sees_delivered, what="referral.settled at the notifier")
        to_company = [m for m in box.mails() if m.rcpt_to == (hr,)]
        assert len(to_company) == 1, "the company receives the referral exactly once"
        assert await pool.fetchval("SELECT count(*) FROM ingest.referrals") == 1
        assert member_of[instant_mail.rcpt_to[0]] == await pool.fetchval(
            "SELECT member_id::text FROM ingest.referrals"
        )

    # --- nothing dead-lettered on any queue.
    topology = Topology(namespace=namespace)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        for spec in SERVICE_QUEUES:
            letters = await dlq.peek(connection, topology.dead_letter_queue(spec), 100)
            assert letters == [], f"{spec.name}: {[d.reason[:120] for d in letters]}"
    finally:
        await connection.close()
