"""The planner's batches (``plan_batches``) on the real PostgreSQL and SMTP sink:
a batch decides exactly what one member at a time decided (generated members,
preferences and jobs); a member whose row cannot be planned fails alone while
the rest of its batch is planned together; a digest run over many members,
planned by two planners at once and interrupted by the database going away
mid-batch, sends each member exactly one digest."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.notifier import plan_batches
from services.notifier.schedule import member_zone, week_bounds
from services.notifier.sender import Dispatcher, address_hash
from shared.db import Pool
from shared.sealing import Sealer
from shared.settings import Settings
from tests.notifier.real import Mailbox, domain

pytestmark = pytest.mark.real

POSTINGS = ("p0", "p1", "p2", "p3", "p4")
ZONES = ("Europe/Rome", "Europe/Stockholm", "America/New_York", "Not/AZone")


@dataclass(frozen=True)
class JobSpec:
    posting: int
    score: float
    valid_through: str | None
    hours_old: int


@dataclass(frozen=True)
class MemberSpec:
    known: bool  # False: the match came before the member's profile
    frequency: str
    opted_in: bool
    unsubscribed: bool
    contact: bool
    suppressed: bool
    paused: str  # "no", "past", "future"
    quiet_hours: tuple[str, ...]
    zone: str
    jobs: tuple[JobSpec, ...]
    sent_before: frozenset[int]
    not_for_me: frozenset[int]
    jobs_this_week: int


jobs = st.builds(
    JobSpec,
    posting=st.integers(0, len(POSTINGS) - 1),
    score=st.sampled_from([0.5, 0.7, 0.7, 0.9]),  # ties too: best first must break them alike
    valid_through=st.sampled_from([None, "2020-01-31", "9999-12-31", "2999-01-01T10:00:00Z"]),
    hours_old=st.sampled_from([1, 5, 30]),  # 30 h: past an unknown member's wait limit
)
members = st.builds(
    MemberSpec,
    known=st.sampled_from([True, True, True, False]),
    frequency=st.sampled_from(["instant", "daily", "weekly"]),
    opted_in=st.sampled_from([True, True, True, False]),
    unsubscribed=st.sampled_from([False, False, False, True]),
    contact=st.sampled_from([True, True, True, False]),
    suppressed=st.sampled_from([False, False, True]),
    paused=st.sampled_from(["no", "no", "past", "future"]),
    quiet_hours=st.sampled_from([(), ("22:00", "07:00"), ("00:00", "23:59")]),
    zone=st.sampled_from(ZONES),
    jobs=st.lists(jobs, min_size=1, max_size=6).map(tuple),
    sent_before=st.frozensets(st.integers(0, len(POSTINGS) - 1), max_size=2),
    not_for_me=st.frozensets(st.integers(0, len(POSTINGS) - 1), max_size=2),
    jobs_this_week=st.sampled_from([0, 0, 3, 9, 10, 12]),
)
batches = st.tuples(
    st.lists(members, min_size=1, max_size=8),
    st.frozensets(st.integers(0, len(POSTINGS) - 1), max_size=2),  # closed postings
)


def generated_batches() -> list[tuple[list[MemberSpec], frozenset[int]]]:
    collected: list[tuple[list[MemberSpec], frozenset[int]]] = []

    @examples(
        max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(batches)
    def collect(batch: tuple[list[MemberSpec], frozenset[int]]) -> None:
        collected.append(batch)

    collect()
    return collected


async def seed(
    pool: Pool,
    settings: Settings,
    prefix: str,
    specs: list[MemberSpec],
    closed: frozenset[int],
    now: datetime,
    where: str,
) -> list[str]:
    """The specs' members and rows, each member id under ``prefix``; their ids."""
    sealer = Sealer([settings.secret_key])
    ids = [f"{prefix}-{i}" for i in range(len(specs))]
    async with pool.acquire() as conn, conn.transaction():
        for member_id, spec in zip(ids, specs, strict=True):
            address = f"{member_id}@{where}"
            posting = {k: f"{prefix}-{POSTINGS[k]}" for k in range(len(POSTINGS))}
            for k in closed:
                await conn.execute(
                    "INSERT INTO notifier.postings (posting_id, revision, open)"
                    " VALUES ($1, 1, false) ON CONFLICT DO NOTHING",
                    posting[k],
                )
            if spec.known:
                pause = {
                    "no": None,
                    "past": now - timedelta(days=2),
                    "future": now + timedelta(days=3),
                }
                await conn.execute(
                    "INSERT INTO notifier.members (member_id, revision, opted_in, language,"
                    " timezone, frequency, quiet_hours, paused_until, sealed_contact,"
                    " unsubscribed_at) VALUES ($1, 1, $2, 'it', $3, $4, $5, $6, $7, $8)",
                    member_id,
                    spec.opted_in,
                    spec.zone,
                    spec.frequency,
                    list(spec.quiet_hours),
                    pause[spec.paused],
                    sealer.seal({"email": address, "name": "Giulia Rossi"})
                    if spec.contact
                    else None,
                    now - timedelta(days=1) if spec.unsubscribed else None,
                )
                week_start, _ = week_bounds(now, member_zone(spec.zone))
                if spec.jobs_this_week:
                    await conn.execute(
                        "INSERT INTO notifier.weekly_counts (member_id, week_start, jobs)"
                        " VALUES ($1, $2, $3)",
                        member_id,
                        week_start,
                        spec.jobs_this_week,
                    )
            if spec.suppressed:
                await conn.execute(
                    "INSERT INTO notifier.suppressed_addresses (address_hash, smtp_code,"
                    " smtp_reply) VALUES ($1, 550, 'no such user') ON CONFLICT DO NOTHING",
                    address_hash(settings.secret_key, address),
                )
            rows: list[tuple[str, int, float, str | None, datetime, str]] = [
                (
                    f"{member_id}-j{n}",
                    j.posting,
                    j.score,
                    j.valid_through,
                    now - timedelta(hours=j.hours_old),
                    "pending",
                )
                for n, j in enumerate(spec.jobs)
            ]
            rows += [
                (f"{member_id}-s{k}", k, 0.8, None, now - timedelta(days=3), "sent")
                for k in spec.sent_before
            ]
            for match_id, k, score, valid_through, created, state in rows:
                await conn.execute(
                    "INSERT INTO notifier.notifications (id, match_id, member_id, posting_id,"
                    " posting_revision, score, explanation, title, company_name, valid_through,"
                    " state, due_at, created_at)"
                    " VALUES ($1, $2, $3, $4, 1, $5, $6, 'Executive Assistant', 'Acme SpA',"
                    " $7, $8, $9, $10)",
                    uuid.uuid4(),
                    match_id,
                    member_id,
                    posting[k],
                    score,
                    {},
                    valid_through,
                    state,
                    now - timedelta(minutes=1),
                    created,
                )
            for k in spec.not_for_me:
                await conn.execute(
                    "INSERT INTO notifier.feedback (member_id, posting_id, notification_id,"
                    " reason) VALUES ($1, $2, $3, 'role')",
                    member_id,
                    posting[k],
                    uuid.uuid4(),
                )
    return ids


async def outcome(pool: Pool, prefix: str) -> dict[str, Any]:
    """What planning left for ``prefix``'s members, with the prefix taken out."""

    def bare(value: str) -> str:
        return value.removeprefix(prefix)

    notifications = await pool.fetch(
        "SELECT match_id, state, reason, due_at, email_id FROM notifier.notifications"
        " WHERE member_id LIKE $1 || '-%' AND match_id NOT LIKE '%-s_'",
        prefix,
    )
    emails = await pool.fetch(
        "SELECT id, member_id, kind, state FROM notifier.emails WHERE member_id LIKE $1 || '-%'",
        prefix,
    )
    jobs_of: dict[uuid.UUID, list[str]] = {}
    for n in notifications:
        if n["email_id"] is not None:
            jobs_of.setdefault(n["email_id"], []).append(bare(n["match_id"]))
    counts = await pool.fetch(
        "SELECT member_id, week_start, jobs FROM notifier.weekly_counts"
        " WHERE member_id LIKE $1 || '-%'",
        prefix,
    )
    return {
        "notifications": sorted(
            (bare(n["match_id"]), n["state"], n["reason"], n["due_at"]) for n in notifications
        ),
        "emails": sorted(
            (bare(e["member_id"]), e["kind"], e["state"], tuple(sorted(jobs_of[e["id"]])))
            for e in emails
        ),
        "weekly_counts": sorted((bare(c["member_id"]), c["week_start"], c["jobs"]) for c in counts),
    }


def watch_one_by_one(dispatcher: Dispatcher) -> list[str]:
    """The members ``dispatcher`` plans alone (the batch's fallback)."""
    alone: list[str] = []
    plan_member = dispatcher.plan_member

    async def recorded(member_id: str) -> int:
        alone.append(member_id)
        return await plan_member(member_id)

    dispatcher.plan_member = recorded  # type: ignore[method-assign]
    return alone


async def test_generated_batches_decide_as_one_member_at_a_time(pool: Pool, settings: Settings):
    now = datetime.now(UTC)
    where = domain()
    dispatcher = Dispatcher(pool, settings, clock=lambda: now)
    alone = watch_one_by_one(dispatcher)
    for n, (specs, closed) in enumerate(generated_batches()):
        one, together = f"one{n}", f"together{n}"
        one_ids = await seed(pool, settings, one, specs, closed, now, where)
        together_ids = await seed(pool, settings, together, specs, closed, now, where)
        await dispatcher.plan_each(one_ids)
        alone.clear()
        batch = await plan_batches.plan_round(
            pool,
            together_ids,
            now=now,
            weekly_cap=settings.notifier_weekly_cap,
            address_hashes=dispatcher.contact_hashes,
        )
        assert batch.alone == [] and alone == [], "a member was planned alone"
        assert await outcome(pool, together) == await outcome(pool, one), (specs, closed)
    held = await pool.fetchval("SELECT count(*) FROM shared.quarantine")
    assert held == 0


async def _digest_members(
    pool: Pool, settings: Settings, count: int, where: str, jobs_each: int = 3
) -> list[str]:
    now = datetime.now(UTC)
    spec = MemberSpec(
        known=True,
        frequency="daily",
        opted_in=True,
        unsubscribed=False,
        contact=True,
        suppressed=False,
        paused="no",
        quiet_hours=(),
        zone="Europe/Rome",
        jobs=tuple(JobSpec(k, 0.6 + k / 10, None, 2) for k in range(jobs_each)),
        sent_before=frozenset(),
        not_for_me=frozenset(),
        jobs_this_week=0,
    )
    return await seed(pool, settings, "d", [spec] * count, frozenset(), now, where)


async def test_a_member_whose_row_cannot_be_planned_fails_alone(pool: Pool, settings: Settings):
    where = domain()
    ids = await _digest_members(pool, settings, 30, where)
    bad = ids[7]
    # PostgreSQL's 'infinity' reaches Python as a naive datetime, which the
    # planner cannot compare: this member's plan raises, nobody else's.
    await pool.execute(
        "UPDATE notifier.members SET paused_until = 'infinity' WHERE member_id = $1", bad
    )
    dispatcher = Dispatcher(pool, settings)
    alone = watch_one_by_one(dispatcher)
    assert await dispatcher.plan_due() == len(ids) - 1
    assert alone == [bad], "only the bad member is planned one by one"
    held = await pool.fetch("SELECT record_id, task, reason FROM shared.quarantine")
    assert [tuple(h) for h in held] == [(bad, "planner", "TypeError")]
    emails = await pool.fetch("SELECT member_id, kind FROM notifier.emails")
    assert sorted(tuple(e) for e in emails) == sorted((m, "daily") for m in ids if m != bad)
    left = await pool.fetch(
        "SELECT DISTINCT member_id FROM notifier.notifications WHERE state = 'pending'"
    )
    assert [r["member_id"] for r in left] == [bad], "the bad member's jobs stay, untouched"
    assert await dispatcher.plan_due() == 0, "a held member is not planned again"


async def test_an_undecodable_row_sends_its_batch_one_by_one_and_fails_alone(
    pool: Pool, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    where = domain()
    ids = await _digest_members(pool, settings, 12, where)
    bad = ids[3]
    # Past year 9999: the driver cannot decode the row, so loading the whole
    # batch's profiles fails; the batch is redone member by member.
    await pool.execute(
        "UPDATE notifier.members SET paused_until = '12000-01-01 00:00:00+00' WHERE member_id = $1",
        bad,
    )
    monkeypatch.setattr(plan_batches, "SIDE_BY_SIDE", 1)  # one batch: every member in it
    dispatcher = Dispatcher(pool, settings)
    alone = watch_one_by_one(dispatcher)
    assert await dispatcher.plan_due() == len(ids) - 1
    assert sorted(alone) == sorted(ids)
    held = await pool.fetch("SELECT record_id, reason FROM shared.quarantine")
    assert [tuple(h) for h in held] == [(bad, "OverflowError")]
    planned = await pool.fetchval("SELECT count(DISTINCT member_id) FROM notifier.emails")
    assert planned == len(ids) - 1


async def test_a_digest_run_over_many_members_sends_each_exactly_once(
    pool: Pool, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    box = Mailbox(domain())
    ids = await _digest_members(pool, settings, 400, box.domain)
    # Small rounds, so the run takes many batches; two planners compete for them.
    monkeypatch.setattr(plan_batches, "ROWS_PER_ROUND", 90)
    first, second = Dispatcher(pool, settings), Dispatcher(pool, settings)

    # The database goes away in the middle of a batch of the first planner:
    # its transaction is rolled back, the error is raised to the planner's
    # loop (which waits it out), and the next round takes the batch again.
    apply = plan_batches.apply
    failures = [ConnectionResetError("the database went away")]

    async def fails_once(*args: Any, **kwargs: Any) -> int:
        if failures:
            await apply(*args, **kwargs)  # the statements run; the commit never comes
            raise failures.pop()
        return await apply(*args, **kwargs)

    monkeypatch.setattr(plan_batches, "apply", fails_once)

    async def plan_until_done(dispatcher: Dispatcher) -> int:
        planned = 0
        while True:
            try:
                planned += await dispatcher.plan_due()
            except ConnectionResetError:
                continue
            due = await pool.fetchval(
                "SELECT count(*) FROM notifier.notifications"
                " WHERE state = 'pending' AND due_at <= now()"
            )
            if not due:
                return planned

    planned = await asyncio.gather(plan_until_done(first), plan_until_done(second))
    assert not failures, "the database never went away"
    assert sum(planned) == len(ids)
    try:
        while await first.send_due():
            pass
    finally:
        await first.close()
        await second.close()
    mails = await box.wait_for(len(ids), timeout=120)
    by_rcpt = Counter(r for mail in mails for r in mail.rcpt_to)
    assert by_rcpt == Counter(f"{m}@{box.domain}" for m in ids), (
        "a digest went twice, or not at all"
    )
    states = await pool.fetch(
        "SELECT e.kind, e.state, count(*) AS jobs, count(DISTINCT e.id) AS emails"
        " FROM notifier.emails e JOIN notifier.notifications n ON n.email_id = e.id"
        " GROUP BY 1, 2"
    )
    assert [tuple(s) for s in states] == [("daily", "sent", 3 * len(ids), len(ids))]
    counted = await pool.fetch("SELECT DISTINCT jobs FROM notifier.weekly_counts")
    assert [r["jobs"] for r in counted] == [3], "the batch rolled back counted nothing"
