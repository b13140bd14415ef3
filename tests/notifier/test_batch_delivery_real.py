"""The delivery runner's batching, against the real database and the real SMTP
sink: rows claimed together by two runners are never the same row; a crash
between the server's answer and the grouped record leaves at most the window
(``concurrency`` attempts) to be sent twice, with the same Message-ID; an SMTP
refusal in the middle of a batch changes only its own email."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

import pytest
import structlog

from services.notifier import handlers
from services.notifier.sender import DUE_CHANNEL, Dispatcher
from shared import delivery, member_companies
from shared.consumer import dispatch
from shared.sealing import sealer_for
from tests.helpers import eventually
from tests.notifier.real import Mailbox, domain, match_event, member_event

pytestmark = pytest.mark.real


async def _plan(pool, settings, addresses: dict[str, str], posting_id: str) -> None:
    # As the service handles them: member.changed opened first (service.py).
    handle = member_companies.opening(dispatch(handlers.HANDLERS), sealer_for(settings.secret_keys))
    envelopes = [member_event(settings.secret_key, m, a) for m, a in addresses.items()]
    envelopes += [match_event(m, posting_id=posting_id) for m in addresses]
    for envelope in envelopes:
        async with pool.acquire() as conn, conn.transaction():
            await handle(envelope, conn)
    planner = Dispatcher(pool, settings)
    assert await planner.plan_due() == len(addresses)


async def test_two_runners_claiming_batches_at_once_never_claim_the_same_row(pool, settings):
    box = Mailbox(domain())
    members = {f"claim-{i:02d}": f"claim-{i:02d}@{box.domain}" for i in range(40)}
    await _plan(pool, settings, members, "p-claim")
    table = Dispatcher.table

    async def claim_batches() -> list[delivery.Claim]:
        claimed: list[delivery.Claim] = []
        while True:
            async with pool.acquire() as conn:
                batch = await delivery.claim_many(conn, table, 60, 7)
            assert len(batch) <= 7
            if not batch:
                return claimed
            claimed += batch

    first, second = await asyncio.gather(claim_batches(), claim_batches())
    keys = [c.key for c in first + second]
    assert len(keys) == len(set(keys)) == len(members), "a row was claimed twice, or not at all"
    assert {c.attempt for c in first + second} == {1}
    # Leased: nothing is due again until the lease runs out.
    async with pool.acquire() as conn:
        assert await delivery.claim_many(conn, table, 60, 100) == []


async def test_a_claim_commits_at_once_and_leaves_the_connection_synchronous(pool, settings):
    # The claim relaxes synchronous_commit for its own transaction only: the
    # pooled connection's next transactions (the outcomes) still wait for
    # their flush, and the claim is committed when it returns.
    box = Mailbox(domain())
    members = {f"relax-{i:02d}": f"relax-{i:02d}@{box.domain}" for i in range(3)}
    await _plan(pool, settings, members, "p-relax")
    table = Dispatcher.table
    async with pool.acquire() as conn:
        before = await conn.fetchval("SHOW synchronous_commit")
        claimed = await delivery.claim_many(conn, table, 60, 2)
        assert await conn.fetchval("SHOW synchronous_commit") == before == "on"
        assert not conn.is_in_transaction()
    async with pool.acquire() as other:
        leased = await other.fetch(
            "SELECT id, attempts FROM notifier.emails WHERE leased_until > now()"
            " AND id = ANY($1::uuid[])",
            [c.key for c in claimed],
        )
    assert len(claimed) == 2
    assert {(r["id"], r["attempts"]) for r in leased} == {(c.key, 1) for c in claimed}


async def test_two_dispatchers_with_wide_windows_send_every_email_once(pool, settings):
    box = Mailbox(domain())
    members = {f"wide-{i:02d}": f"wide-{i:02d}@{box.domain}" for i in range(60)}
    await _plan(pool, settings, members, "p-wide")
    first = Dispatcher(pool, settings, senders=16, connections=3)
    second = Dispatcher(pool, settings, senders=16, connections=3)
    try:
        handled = await asyncio.gather(first.send_due(), second.send_due())
    finally:
        await first.close()
        await second.close()
    assert sum(handled) == len(members)
    await box.wait_for(len(members))
    by_rcpt = Counter(rcpt for mail in box.mails() for rcpt in mail.rcpt_to)
    assert by_rcpt == Counter(members.values()), "an email went twice, or not at all"
    assert first.sent + second.sent == len(members)
    states = await pool.fetch("SELECT state, attempts, count(*) FROM notifier.emails GROUP BY 1, 2")
    assert [tuple(r) for r in states] == [("sent", 1, len(members))]


async def test_a_crash_between_send_and_record_resends_only_the_window(pool, settings):
    window = 5
    # Long enough for a send on a loaded machine (an attempt is cut off at half
    # the lease), short enough to wait out after the crash.
    settings = replace(settings, delivery_lease_s=8)
    box = Mailbox(domain())
    members = {f"crash-{i:02d}": f"crash-{i:02d}@{box.domain}" for i in range(20)}
    await _plan(pool, settings, members, "p-crash")

    crashing = Dispatcher(pool, settings, senders=window, connections=2)
    recording = asyncio.Event()

    async def never_commits(entries: list[Any]) -> None:
        # The process stops here for good: the server said 250, nothing is recorded.
        recording.set()
        await asyncio.Event().wait()

    crashing.runner.record_group = never_commits  # type: ignore[method-assign]
    run = asyncio.create_task(crashing.send_due())
    try:
        # The window fills: every place holds an email the sink accepted and
        # nobody recorded, and no further row is claimed.
        await box.wait_for(window, timeout=60)

        async def waiting_to_record() -> bool:
            return recording.is_set()

        await eventually(waiting_to_record, what="an outcome waiting to be recorded")

        async def window_full() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE attempts > 0")
            ) == window and len(box.mails()) == window

        await eventually(window_full, what="the window full and nothing more claimed")
    finally:
        run.cancel()  # the crash
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await crashing.close()

    restarted = Dispatcher(pool, settings)

    async def all_sent() -> bool:
        await restarted.send_due()  # the crashed claims come back once their lease is over
        sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
        return int(sent) == len(members)

    try:
        await eventually(all_sent, timeout=120, what="every email sent after the restart")
    finally:
        await restarted.close()
    mails = await box.wait_for(len(members) + window)
    by_rcpt: dict[str, list[str]] = defaultdict(list)
    for mail in mails:
        (rcpt,) = mail.rcpt_to
        by_rcpt[rcpt].append(str(mail.message["Message-ID"]))
    assert set(by_rcpt) == set(members.values()), "an email was lost"
    twice = {r: ids for r, ids in by_rcpt.items() if len(ids) > 1}
    assert len(twice) == window, "a duplicate outside the window"
    assert all(len(ids) == 2 and len(set(ids)) == 1 for ids in twice.values())
    resent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE attempts > 1")
    assert resent == window


async def test_an_smtp_refusal_in_the_middle_of_a_batch_changes_only_its_email(pool, settings):
    settings = replace(settings, delivery_retry_delays_ms=(60_000,))
    box = Mailbox(domain())
    members = {f"mid-{i:02d}": f"mid-{i:02d}@{box.domain}" for i in range(10)}
    members["mid-refused"] = f"refuse-550-mid@{box.domain}"
    members["mid-busy"] = f"defer-451-mid@{box.domain}"
    await _plan(pool, settings, members, "p-mid")
    # One window wide enough for all: they are claimed, sent and recorded together.
    dispatcher = Dispatcher(pool, settings, senders=len(members), connections=4)
    try:
        with structlog.testing.capture_logs() as logged:
            assert await dispatcher.send_due() == len(members)
    finally:
        await dispatcher.close()
    good = {m: a for m, a in members.items() if m not in ("mid-refused", "mid-busy")}
    # The emails sent at the first attempt are counted in their group's line;
    # the refusal and the deferral each keep their own line, with their reason.
    events = Counter(e["event"] for e in logged)
    assert sum(e["count"] for e in logged if e["event"] == "deliveries settled") == len(good)
    alone = {(e["event"], e["reason"]) for e in logged if e["event"].startswith("delivery ")}
    assert alone == {
        ("delivery settled", "smtp refused"),
        ("delivery retried later", "smtp deferred"),
    }
    assert events["delivery settled"] == events["delivery retried later"] == 1
    await box.wait_for(len(good))
    assert sorted(r for mail in box.mails() for r in mail.rcpt_to) == sorted(good.values())
    rows = {
        r["member_id"]: (r["state"], r["reason"], r["attempts"], r["smtp_code"])
        for r in await pool.fetch(
            "SELECT member_id, state, reason, attempts, smtp_code FROM notifier.emails"
        )
    }
    assert rows.pop("mid-refused") == ("failed", "smtp refused", 1, 550)
    assert rows.pop("mid-busy") == ("sending", "smtp deferred", 1, 451)
    assert set(rows.values()) == {("sent", None, 1, 250)}
    notifications = Counter(
        r["state"] for r in await pool.fetch("SELECT state FROM notifier.notifications")
    )
    assert notifications == Counter({"sent": len(good), "failed": 1, "sending": 1})
    suppressed = await pool.fetchval("SELECT count(*) FROM notifier.suppressed_addresses")
    assert suppressed == 1
    # The deferred one is due again only after its delay, and then alone.
    later = await pool.fetchval(
        "SELECT next_attempt_at > now() + interval '30 seconds' FROM notifier.emails"
        " WHERE member_id = 'mid-busy'"
    )
    assert later


async def test_a_committed_match_notifies_the_planners_channel(pool, settings):
    heard: list[str] = []

    def hear(*args: Any) -> None:
        heard.append(args[2])

    listener = await pool.acquire()
    try:
        await listener.add_listener(DUE_CHANNEL, hear)
        box = Mailbox(domain())
        handle = member_companies.opening(
            dispatch(handlers.HANDLERS), sealer_for(settings.secret_keys)
        )
        async with pool.acquire() as conn, conn.transaction():
            await handle(member_event(settings.secret_key, "wake-1", f"w@{box.domain}"), conn)
        async with pool.acquire() as conn, conn.transaction():
            await handle(match_event("wake-1", posting_id="p-wake"), conn)

        # Exactly one: the member change before it notified nothing.
        async def notified() -> bool:
            return heard == [DUE_CHANNEL]

        await eventually(notified, what="the planners' wake-up")
    finally:
        await listener.remove_listener(DUE_CHANNEL, hear)
        await pool.release(listener)
