"""Referrals through the delivery runner, against the real database, a real
HTTP receiver and the real SMTP sink: two runners side by side deliver every
referral exactly once; a callback that hangs, answers 500 or 410, or a company
with no channel, fails alone with its reason; a withdrawal waits for an
attempt in flight."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from services.ingest import operators, referrals
from services.ingest.referrals import Deliverer
from shared import delivery, metrics
from shared.events import Envelope, ReferralWithdrawn
from shared.sealing import sealer_for
from tests.helpers import eventually, free_port
from tests.notifier.real import Mailbox, domain

pytestmark = pytest.mark.real

GOOD = 16


class Company:
    """A company's receiver: /ok answers 200, /boom 500, /gone 410, /hang never."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        self.seen[f"{request.path} {request.headers['webhook-id']}"] += 1
        if request.path == "/hang":
            await self.release.wait()
        status = {"/ok": 200, "/boom": 500, "/gone": 410}.get(request.path, 200)
        return web.Response(status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def company():
    receiver = Company()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def fast(settings):
    return replace(
        settings,
        loopback_http_callbacks=True,
        delivery_lease_s=10,  # an attempt is cut off after 5 s
        delivery_retry_delays_ms=(100, 100),
    )


async def _company(pool, settings, name: str, **channel: str) -> uuid.UUID:
    made = await operators.add_company(pool, settings, name, [], None, **channel)
    return uuid.UUID(made["company_id"])


async def _referral(pool, settings, company_id: uuid.UUID, person: str) -> uuid.UUID:
    posting_id, referral_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO ingest.postings (id, company_id, external_id, revision, status, data,"
        " source_time) VALUES ($1, $2, $3, 1, 'open', $4::jsonb, now())",
        posting_id,
        company_id,
        f"ext-{posting_id.hex[:8]}",
        {"title": "Executive Assistant"},
    )
    sealed = sealer_for(settings.secret_keys).seal(
        {"name": f"Giulia {person}", "email": f"{person}@member.example", "note": ""}
    )
    await pool.execute(
        "INSERT INTO ingest.referrals (referral_id, member_id, posting_id, language,"
        " consented_at, sealed_referral, state, next_attempt_at)"
        " VALUES ($1, $2, $3, 'it', $4, $5, 'pending', now())",
        referral_id,
        uuid.uuid4(),
        posting_id,
        datetime.now(UTC),
        sealed,
    )
    return referral_id


async def _states(pool) -> dict[uuid.UUID, tuple[str, str | None, int]]:
    rows = await pool.fetch("SELECT referral_id, state, reason, attempts FROM ingest.referrals")
    return {r["referral_id"]: (r["state"], r["reason"], r["attempts"]) for r in rows}


async def test_two_runners_deliver_each_referral_once_and_bad_ones_fail_alone(pool, fast, company):
    box = Mailbox(domain())
    ok = await _company(pool, fast, "Ok S.p.A.", callback_url=company.url("/ok"))
    by_mail = await _company(pool, fast, "Mail S.p.A.", contact_email=f"hr@{box.domain}")
    boom = await _company(pool, fast, "Boom S.p.A.", callback_url=company.url("/boom"))
    gone = await _company(pool, fast, "Gone S.p.A.", callback_url=company.url("/gone"))
    hang = await _company(pool, fast, "Hang S.p.A.", callback_url=company.url("/hang"))
    legacy = await _company(pool, fast, "Legacy S.p.A.")  # onboarded before channels were required
    good = [await _referral(pool, fast, ok, f"p{i}") for i in range(GOOD)]
    mailed = await _referral(pool, fast, by_mail, "mailed")
    bad = {
        "boom": await _referral(pool, fast, boom, "boom"),
        "gone": await _referral(pool, fast, gone, "gone"),
        "hang": await _referral(pool, fast, hang, "hang"),
        "legacy": await _referral(pool, fast, legacy, "legacy"),
    }
    first, second = Deliverer(pool, fast), Deliverer(pool, fast)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run(stop)) for d in (first, second)]

    async def settled() -> bool:
        return all(s != "pending" for s, _, _ in (await _states(pool)).values())

    try:
        await eventually(settled, timeout=90, what="every referral settled")
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    states = await _states(pool)
    assert all(states[r] == ("delivered", None, 1) for r in [*good, mailed])
    assert first.delivered + second.delivered == GOOD + 1
    ok_posts = Counter({k: v for k, v in company.seen.items() if k.startswith("/ok ")})
    assert ok_posts == Counter({f"/ok msg_{r.hex}": 1 for r in good}), "a referral went twice"
    (mail,) = await box.wait_for(1)
    assert "mailed@member.example" in mail.text()
    assert states[bad["gone"]] == ("failed", "HTTP 410", 1)
    assert states[bad["legacy"]] == ("failed", "no delivery channel", 1)
    assert states[bad["boom"]] == ("failed", "retries used up (HTTP 500)", 3)
    assert states[bad["hang"]] == ("failed", "retries used up (timed out)", 3)
    # The failed keep their sealed copy (an operator can retry); the rest do not.
    kept = await pool.fetch(
        "SELECT referral_id FROM ingest.referrals WHERE sealed_referral IS NOT NULL"
    )
    assert {r["referral_id"] for r in kept} == set(bad.values())
    # The notifier is told how each ended, with ids only.
    settled_events = await pool.fetch(
        "SELECT body FROM ingest.outbox WHERE routing_key = 'referral.settled'"
    )
    outcomes = Counter(json.loads(r["body"])["data"]["outcome"] for r in settled_events)
    assert outcomes == Counter({"delivered": GOOD + 1, "failed": 4})
    # ...and, once, of a first attempt that failed with more to come (its
    # page then says so): boom and hang; not gone (410 ends it at once), not
    # legacy (nothing to try), not those delivered at the first attempt.
    delayed_events = await pool.fetch(
        "SELECT body FROM ingest.outbox WHERE routing_key = 'referral.delayed'"
    )
    delayed = [json.loads(r["body"])["data"] for r in delayed_events]
    assert sorted(d["referral_id"] for d in delayed) == sorted(
        str(bad[name]) for name in ("boom", "hang")
    )
    assert all(set(d) == {"referral_id", "member_id"} for d in delayed)
    attempts = await pool.fetch("SELECT error FROM ingest.referral_attempts")
    # good and mailed once, gone once, boom and hang three times; legacy never (no channel)
    assert len(attempts) == GOOD + 1 + 1 + 3 + 3
    for row in attempts:
        assert "@" not in (row["error"] or "") and "Giulia" not in (row["error"] or "")

    # What the operator sees: the gauge, then a retry after fixing the channel.
    runner = delivery.Runner(pool, fast, Deliverer(pool, fast))
    await runner.measure()
    assert (
        metrics.REGISTRY.get_sample_value(
            "passaparola_deliveries", {"kind": "referral", "state": "failed"}
        )
        == 4
    )
    await operators.set_callback(pool, fast, legacy, company.url("/ok"), None)
    async with pool.acquire() as conn:
        assert await referrals.retry(conn, bad["legacy"])
    assert await runner.run_once() == 1
    assert (await _states(pool))[bad["legacy"]] == ("delivered", None, 1)
    await runner.adapter.close()


async def test_a_referral_still_failing_after_the_threshold_is_stuck(pool, fast, company):
    boom = await _company(pool, fast, "Boom S.p.A.", callback_url=company.url("/boom"))
    referral_id = await _referral(pool, fast, boom, "stuck")
    fast = replace(fast, delivery_retry_delays_ms=(3_600_000,) * 5, delivery_stuck_after_s=60)
    runner = delivery.Runner(pool, fast, Deliverer(pool, fast))
    assert await runner.run_once() == 1
    assert (await _states(pool))[referral_id] == ("pending", "HTTP 500", 1)
    async with pool.acquire() as conn:
        assert await delivery.counts(conn, Deliverer.table, 60) == (0, 0)
        # An hour of failures later:
        await conn.execute("UPDATE ingest.referrals SET failing_since = now() - interval '2 hours'")
        assert await delivery.counts(conn, Deliverer.table, 60) == (0, 1)
        (row,) = await delivery.listing(conn, Deliverer.table, 60)
    assert (row["kind"], row["id"], row["state"], row["reason"]) == (
        "referral",
        referral_id,
        "stuck",
        "HTTP 500",
    )
    await runner.measure()
    assert (
        metrics.REGISTRY.get_sample_value(
            "passaparola_deliveries", {"kind": "referral", "state": "stuck"}
        )
        == 1
    )
    await runner.adapter.close()


async def test_a_withdrawal_waits_for_an_attempt_in_flight(pool, fast, company):
    hang = await _company(pool, fast, "Hang S.p.A.", callback_url=company.url("/hang"))
    referral_id = await _referral(pool, fast, hang, "inflight")
    member_id = await pool.fetchval(
        "SELECT member_id FROM ingest.referrals WHERE referral_id = $1", referral_id
    )
    posting_id = await pool.fetchval(
        "SELECT posting_id FROM ingest.referrals WHERE referral_id = $1", referral_id
    )
    deliverer = Deliverer(pool, fast)
    attempt = asyncio.create_task(deliverer.deliver_due())

    async def on_the_wire() -> bool:
        return any(k.startswith("/hang ") for k in company.seen)

    await eventually(on_the_wire, what="the attempt to reach the company")
    withdrawal = Envelope.wrap(
        ReferralWithdrawn(
            referral_id=str(referral_id), member_id=str(member_id), posting_id=str(posting_id)
        ),
        source="/tests",
    )
    with pytest.raises(referrals.InFlight):
        async with pool.acquire() as conn, conn.transaction():
            await referrals.on_withdrawn(withdrawal, conn)
    company.release.set()  # the company answers 200: delivered
    await attempt
    async with pool.acquire() as conn, conn.transaction():
        await referrals.on_withdrawn(withdrawal, conn)
    assert (await _states(pool))[referral_id] == ("delivered", None, 1)
    await deliverer.close()
