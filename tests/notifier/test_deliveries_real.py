"""Emails through the delivery runner, against the real database and the real
SMTP sink: two senders side by side send every email exactly once, and a
poisoned email (a date at the edge, a recipient refused for good) fails alone,
visible to the operator, and can be sent again."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from services.notifier import handlers
from services.notifier.consent import ForwardSender
from services.notifier.sender import Dispatcher
from shared import delivery, member_companies, metrics
from shared.consumer import dispatch
from shared.sealing import sealer_for
from tests.helpers import eventually
from tests.notifier.real import Mailbox, domain, match_event, member_event

pytestmark = pytest.mark.real

BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "passaparola")
MEMBERS = 30


@dataclass(frozen=True)
class CliResult:
    returncode: int | None
    stdout: str
    stderr: str


async def cli(env: dict[str, str], *args: str) -> CliResult:
    process = await asyncio.create_subprocess_exec(
        BIN, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return CliResult(process.returncode, out.decode(), err.decode())


async def _handle(pool, *envelopes, keys: Sequence[str] = ()) -> None:
    """Handle in this process, as the service does: member.changed opened
    with ``keys`` first (services/notifier/service.py)."""
    handle = member_companies.opening(dispatch(handlers.HANDLERS), sealer_for(keys or ["-" * 40]))
    for envelope in envelopes:
        async with pool.acquire() as conn, conn.transaction():
            await handle(envelope, conn)


async def _unsettled(pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sending'"))


async def _run_side_by_side(pool, settings, until) -> tuple[Dispatcher, Dispatcher]:
    first, second = Dispatcher(pool, settings), Dispatcher(pool, settings)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run(stop)) for d in (first, second)]
    try:
        await eventually(until, timeout=60, what="every email settled")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return first, second


async def test_two_senders_side_by_side_send_every_email_once(pool, settings):
    settings = replace(settings, delivery_retry_delays_ms=(200,))
    box = Mailbox(domain())
    ids = [f"side-{i:02d}" for i in range(MEMBERS)]
    await _handle(
        pool,
        *(member_event(settings.secret_key, m, f"{m}@{box.domain}") for m in ids),
        keys=settings.secret_keys,
    )
    await _handle(pool, *(match_event(m, posting_id="p-side") for m in ids))

    async def all_sent() -> bool:
        sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
        return int(sent) == MEMBERS

    first, second = await _run_side_by_side(pool, settings, all_sent)
    await box.wait_for(MEMBERS)
    by_rcpt = Counter(rcpt for mail in box.mails() for rcpt in mail.rcpt_to)
    assert by_rcpt == Counter({f"{m}@{box.domain}": 1 for m in ids}), "an email went twice"
    assert first.sent + second.sent == MEMBERS
    attempts = await pool.fetchval("SELECT max(attempts) FROM notifier.emails")
    assert attempts == 1


async def test_a_poisoned_email_fails_alone_and_the_operator_sees_and_retries_it(
    pool, settings, stack_env
):
    settings = replace(settings, delivery_retry_delays_ms=(100, 100))
    box = Mailbox(domain())
    good = [f"good-{i}" for i in range(5)]
    addresses = {m: f"{m}@{box.domain}" for m in good}
    addresses["edge"] = f"edge@{box.domain}"
    addresses["refused"] = f"refuse-550@{box.domain}"
    addresses["busy"] = f"defer-451@{box.domain}"
    await _handle(
        pool,
        *(member_event(settings.secret_key, m, a) for m, a in addresses.items()),
        keys=settings.secret_keys,
    )
    await _handle(pool, *(match_event(m, posting_id="p-poison") for m in addresses))
    # Plan first, then poison one email the way a careless client's data does:
    # a date at the edge of the calendar, which its links cannot be issued from.
    planner = Dispatcher(pool, settings)
    assert await planner.plan_due() == len(addresses)
    await pool.execute(
        "UPDATE notifier.emails SET created_at = '9999-12-31 23:00:00+00' WHERE member_id = 'edge'"
    )

    await _run_side_by_side(pool, settings, lambda: _none_left(pool))
    await box.wait_for(len(good))
    assert sorted(r for m in box.mails() for r in m.rcpt_to) == sorted(addresses[m] for m in good)
    rows = {
        r["member_id"]: (r["state"], r["reason"], r["attempts"])
        for r in await pool.fetch("SELECT member_id, state, reason, attempts FROM notifier.emails")
    }
    assert rows["edge"][0] == "failed" and rows["edge"][1].startswith("error: ")
    assert rows["refused"] == ("failed", "smtp refused", 1)
    assert rows["busy"] == ("failed", "retries used up (smtp deferred)", 3)
    assert all(rows[m] == ("sent", None, 1) for m in good)
    notifications = dict(await pool.fetch("SELECT member_id, state FROM notifier.notifications"))
    assert notifications["edge"] == "failed" and notifications["good-0"] == "sent"
    # Nothing personal in what an operator reads.
    for _, reason, _ in rows.values():
        assert "@" not in (reason or "")

    # The gauge, the CLI list and the retry.
    runner = delivery.Runner(pool, settings, Dispatcher(pool, settings))
    await runner.measure()
    failed = metrics.REGISTRY.get_sample_value(
        "passaparola_deliveries", {"kind": "email", "state": "failed"}
    )
    assert failed == 3
    env = {**os.environ, **stack_env, "PASSAPAROLA_DATABASE_URL": settings.database_url}
    listed = await cli(env, "deliveries", "list", "email", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert {(r["state"], r["reason"]) for r in shown} >= {("failed", "smtp refused")}
    assert len(shown) == 3 and box.domain not in listed.stdout
    edge_id = await pool.fetchval("SELECT id FROM notifier.emails WHERE member_id = 'edge'")
    retried = await cli(env, "deliveries", "retry", "email", str(edge_id))
    assert retried.returncode == 0, retried.stderr
    row = await pool.fetchrow("SELECT state, attempts FROM notifier.emails WHERE id = $1", edge_id)
    assert (row["state"], row["attempts"]) == ("sending", 0)
    assert (
        await pool.fetchval("SELECT state FROM notifier.notifications WHERE email_id = $1", edge_id)
        == "sending"
    )
    again = await cli(env, "deliveries", "retry", "email", str(edge_id))
    assert again.returncode == 65 and again.stderr.startswith("passaparola: NotFailed: ")


async def test_a_crashed_workers_claim_is_due_again_after_its_lease(pool, settings):
    settings = replace(settings, delivery_lease_s=10)
    box = Mailbox(domain())
    await _handle(
        pool,
        member_event(settings.secret_key, "lease", f"lease@{box.domain}"),
        keys=settings.secret_keys,
    )
    await _handle(pool, match_event("lease", posting_id="p-lease"))
    dispatcher = Dispatcher(pool, settings)
    assert await dispatcher.plan_due() == 1
    # A worker claims the email and dies before any outcome.
    async with pool.acquire() as conn:
        claimed = await delivery.claim(conn, dispatcher.table, settings.delivery_lease_s)
    assert claimed is not None
    assert await dispatcher.send_due() == 0, "a leased email was claimed twice"
    await pool.execute("UPDATE notifier.emails SET leased_until = now() WHERE id = $1", claimed.key)
    assert await dispatcher.send_due() == 1
    await dispatcher.close()
    (mail,) = await box.wait_for(1)
    assert mail.rcpt_to == (f"lease@{box.domain}",)
    row = await pool.fetchrow(
        "SELECT state, attempts FROM notifier.emails WHERE id = $1", claimed.key
    )
    assert (row["state"], row["attempts"]) == ("sent", 2)


async def _none_left(pool) -> bool:
    return await _unsettled(pool) == 0


async def test_after_a_key_change_contacts_sealed_under_the_old_key_still_get_mail(pool, settings):
    """Between a key change and ``keys rotate``, half the contacts are sealed
    under the previous key: every email goes, none is cancelled as erased."""
    old, new = settings.secret_key, "n" * 48
    box = Mailbox(domain())
    ids = [f"rot-{i}" for i in range(6)]
    await _handle(
        pool,
        *(member_event(old if i % 2 else new, m, f"{m}@{box.domain}") for i, m in enumerate(ids)),
        keys=[new, old],
    )
    await _handle(pool, *(match_event(m, posting_id="p-rot") for m in ids))
    rotated = replace(settings, secret_key=new, previous_secret_keys=(old,))

    async def all_sent() -> bool:
        sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
        return int(sent) == len(ids)

    await _run_side_by_side(pool, rotated, all_sent)
    await box.wait_for(len(ids))
    assert sorted(r for m in box.mails() for r in m.rcpt_to) == sorted(
        f"{m}@{box.domain}" for m in ids
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM notifier.notifications WHERE state = 'cancelled'")
        == 0
    )


async def test_a_refused_forward_fails_alone_and_keeps_its_copy_for_a_retry(pool, settings):
    box = Mailbox(domain())
    sealer = sealer_for(settings.secret_keys)
    ids = {}
    for who in ("colleague", "refuse-550"):
        ids[who] = uuid.uuid4()
        send = {
            "address": f"{who}@{box.domain}",
            "from_name": "Giulia Rossi",
            "note": "Ti interessa?",
            "language": "it",
            "job": {"title": "Executive Assistant", "company": "Bench S.p.A.", "city": "Milano"},
        }
        await pool.execute(
            "INSERT INTO notifier.forwards (id, member_id, posting_id, colleague_hash,"
            " sealed_send, state) VALUES ($1, 'm-fwd', 'p-fwd', $2, $3, 'pending')",
            ids[who],
            uuid.uuid4().bytes,
            sealer.seal(send),
        )
    forwards = ForwardSender(pool, settings)
    assert await forwards.send_due() == 2
    await forwards.close()
    (mail,) = await box.wait_for(1)
    assert mail.rcpt_to == (f"colleague@{box.domain}",)
    rows = {
        r["id"]: r
        for r in await pool.fetch("SELECT id, state, reason, sealed_send FROM notifier.forwards")
    }
    sent, refused = rows[ids["colleague"]], rows[ids["refuse-550"]]
    assert (sent["state"], sent["sealed_send"]) == ("sent", None)
    assert (refused["state"], refused["reason"]) == ("failed", "smtp refused")
    assert refused["sealed_send"] is not None, "a failed forward can be sent again"
    async with pool.acquire() as conn:
        assert await delivery.retry(conn, ForwardSender.table, ids["refuse-550"])
        assert not await delivery.retry(conn, ForwardSender.table, ids["colleague"])


class _BrokenRecord(ForwardSender):
    """A bug in an adapter's own bookkeeping, after the I/O succeeded."""

    async def recorded(self, conn, claim, forward, outcome, state) -> None:
        raise RuntimeError("bookkeeping bug")


async def test_an_outcome_that_cannot_be_recorded_fails_the_row_instead_of_resending_it(
    pool, settings
):
    box = Mailbox(domain())
    forward_id = uuid.uuid4()
    send = {"address": f"once@{box.domain}", "language": "it", "job": {"title": "EA"}}
    await pool.execute(
        "INSERT INTO notifier.forwards (id, member_id, posting_id, colleague_hash,"
        " sealed_send, state) VALUES ($1, 'm-bug', 'p-bug', $2, $3, 'pending')",
        forward_id,
        uuid.uuid4().bytes,
        sealer_for(settings.secret_keys).seal(send),
    )
    broken = _BrokenRecord(pool, settings)
    assert await broken.send_due() == 1
    await pool.execute("UPDATE notifier.forwards SET leased_until = NULL")  # as after the lease
    assert await broken.send_due() == 0, "the row came back"
    await broken.close()
    row = await pool.fetchrow("SELECT state, reason, attempts FROM notifier.forwards")
    assert dict(row) == {"state": "failed", "reason": "error: RuntimeError", "attempts": 1}
    await box.wait_for(1)
    assert len(box.mails()) == 1
