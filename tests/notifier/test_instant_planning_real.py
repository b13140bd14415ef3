"""Matches that may go now are planned in the consumer's transaction
(``instant.py``), on the real PostgreSQL: a batch of ``match.found`` leaves
the same notifications, emails and weekly counts as recording the matches one
by one and running the planner after, for members of every kind (instant,
quiet hours, digest, paused, opted out, suppressed, at the weekly cap, who
said "not for me", already sent the posting, unknown), and the emails are
committed with the matches: due for the sender with no planner run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.notifier import handlers
from services.notifier.instant import InstantPlanner
from services.notifier.schedule import member_zone, week_bounds
from services.notifier.sender import Dispatcher, address_hash
from shared import delivery, member_companies
from shared.consumer import dispatch
from shared.db import Pool
from shared.events import Envelope, JobClosed
from shared.sealing import sealer_for
from shared.settings import Settings
from tests.notifier.real import match_event, member_event, wrap

pytestmark = pytest.mark.real

DOMAIN = "instant.example"
# Each member with what makes its plan differ; every one has an address.
KINDS: dict[str, dict[str, Any]] = {
    "m-instant": {},
    "m-instant-2": {"language": "sv", "timezone": "Europe/Stockholm"},
    "m-quiet": {"quiet_hours": ["00:00", "23:59"]},
    "m-daily": {"frequency": "daily"},
    "m-paused": {"paused_until": "2099-12-24"},
    "m-out": {"opted_in": False},
    "m-suppressed": {},
    "m-capped": {},
    "m-said": {},
    "m-sent": {},
}
MEMBERS = [*KINDS, "m-unknown"]
POSTINGS = ["p-1", "p-2", "p-closed"]


def address(member_id: str) -> str:
    return f"{member_id}@{DOMAIN}"


def the_match(k: int, member_id: str, posting_id: str) -> Envelope:
    return match_event(member_id, posting_id, match_id=str(uuid.UUID(int=k)), score=0.5 + k / 1000)


async def prepare(pool: Pool, settings: Settings, now: datetime) -> None:
    """The members and what the database already says about them."""
    single = member_companies.opening(
        dispatch(handlers.make_handlers(lambda: now)), sealer_for(settings.secret_keys)
    )
    events = [member_event(settings.secret_key, m, address(m), **kw) for m, kw in KINDS.items()]
    events.append(wrap(JobClosed(posting_id="p-closed", company_id="c-1", revision=3)))
    # m-sent was sent p-1 already (planned and sent before this batch).
    events.append(the_match(900, "m-sent", "p-1"))
    async with pool.acquire() as conn:
        for event in events:
            async with conn.transaction():
                await single(event, conn)
    await Dispatcher(pool, settings, clock=lambda: now).plan_due()
    await pool.execute("UPDATE notifier.emails SET state = 'sent'")
    await pool.execute("UPDATE notifier.notifications SET state = 'sent' WHERE state = 'sending'")
    await pool.execute(
        "INSERT INTO notifier.suppressed_addresses (address_hash, smtp_code, smtp_reply)"
        " VALUES ($1, 550, 'no such user')",
        address_hash(settings.secret_key, address("m-suppressed")),
    )
    await pool.execute(
        "INSERT INTO notifier.weekly_counts (member_id, week_start, jobs) VALUES ($1, $2, $3)",
        "m-capped",
        week_bounds(now, member_zone("Europe/Rome"))[0],
        settings.notifier_weekly_cap,
    )
    await pool.execute(
        "INSERT INTO notifier.feedback (member_id, posting_id, notification_id, reason)"
        " VALUES ('m-said', 'p-2', $1, 'role')",
        uuid.uuid4(),
    )


async def snapshot(pool: Pool) -> tuple[list[tuple[Any, ...]], ...]:
    notifications = await pool.fetch(
        "SELECT n.match_id, n.member_id, n.posting_id, n.state, n.reason, n.due_at,"
        " e.kind, e.state AS email_state, e.id = n.id AS own_id,"
        " (SELECT count(*) FROM notifier.notifications o WHERE o.email_id = n.email_id) AS jobs"
        " FROM notifier.notifications n LEFT JOIN notifier.emails e ON e.id = n.email_id"
        " ORDER BY n.match_id"
    )
    counts = await pool.fetch(
        "SELECT member_id, week_start, jobs FROM notifier.weekly_counts ORDER BY member_id"
    )
    emails = await pool.fetch(
        "SELECT member_id, kind, state FROM notifier.emails ORDER BY member_id, kind, state"
    )
    return [tuple(r) for r in notifications], [tuple(r) for r in counts], [tuple(r) for r in emails]


async def empty(pool: Pool) -> None:
    await pool.execute(
        "TRUNCATE notifier.members, notifier.notifications, notifier.emails,"
        " notifier.erased_members, notifier.withdrawn_matches, notifier.postings,"
        " notifier.weekly_counts, notifier.feedback, notifier.suppressed_addresses CASCADE"
    )


async def apply(
    pool: Pool, settings: Settings, run: list[Envelope], now: datetime, *, in_consumer: bool
) -> tuple[list[tuple[Any, ...]], ...]:
    await prepare(pool, settings, now)
    if in_consumer:
        planner = InstantPlanner(settings, sealer_for(settings.secret_keys))
        batch = handlers.make_batch_handlers(lambda: now, planner)
        async with pool.acquire() as conn, conn.transaction():
            await batch[run[0].type](run, conn)
    else:
        single = handlers.make_handlers(lambda: now)
        async with pool.acquire() as conn:
            for event in run:
                async with conn.transaction():
                    await single[event.type](event, conn)
        await Dispatcher(pool, settings, clock=lambda: now).plan_due()
    found = await snapshot(pool)
    await empty(pool)
    return found


def generated_runs() -> list[list[tuple[int, str, str]]]:
    """Generated batches of (match number, member, posting): repeated match
    ids, two matches of a member for one posting, every kind, any order."""
    collected: list[list[tuple[int, str, str]]] = []

    @examples(
        max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        st.lists(
            st.tuples(st.integers(1, 40), st.sampled_from(MEMBERS), st.sampled_from(POSTINGS)),
            min_size=1,
            max_size=30,
        )
    )
    def collect(run: list[tuple[int, str, str]]) -> None:
        collected.append(run)

    collect()
    return collected


async def test_a_batch_planned_in_the_consumer_ends_as_one_by_one_and_the_planner(pool, settings):
    # A moment just past: the planner picks what is due by the database's clock.
    now = datetime.now(UTC) - timedelta(seconds=1)
    every_kind = [(k, m, "p-1") for k, m in enumerate(MEMBERS, 1)]
    every_kind += [(20, "m-said", "p-2"), (21, "m-instant", "p-closed")]
    every_kind += [(22, "m-instant", "p-2"), (23, "m-instant", "p-2")]  # two matches, one posting
    every_kind += [(1, "m-instant", "p-1")]  # the same match id again
    for spec in [every_kind, *generated_runs()]:
        run = [the_match(k, m, p) for k, m, p in spec]
        planner_after = await apply(pool, settings, run, now, in_consumer=False)
        in_consumer = await apply(pool, settings, run, now, in_consumer=True)
        assert in_consumer == planner_after, spec
        if spec is every_kind:
            decided = {n[0]: (n[3], n[4], n[6]) for n in in_consumer[0]}

    def of(k: int) -> tuple[Any, ...]:
        return decided[str(uuid.UUID(int=k))]

    # The hand-made batch reaches every decision the planner makes.
    assert of(1) == ("sending", None, "instant")
    assert of(2) == ("sending", None, "instant")
    assert of(3)[:2] == of(4)[:2] == of(5)[:2] == ("pending", None)  # quiet, digest, paused
    assert of(6)[:2] == ("cancelled", "opted out")
    assert of(7)[:2] == ("cancelled", "address suppressed")
    assert of(8)[:2] == ("cancelled", "weekly cap")
    assert of(10)[:2] == ("cancelled", "already sent")
    assert of(11)[:2] == ("pending", None)  # an unknown member waits for its profile
    assert of(20)[:2] == ("cancelled", "not for me")
    assert of(21)[:2] == ("cancelled", "posting closed")
    assert sorted([of(22)[:2], of(23)[:2]]) == [("cancelled", "duplicate match"), ("sending", None)]


async def test_matches_due_now_are_emails_for_the_sender_when_the_batch_commits(pool, settings):
    now = datetime.now(UTC) - timedelta(seconds=1)
    await prepare(pool, settings, now)
    planner = InstantPlanner(settings, sealer_for(settings.secret_keys))
    batch = handlers.make_batch_handlers(lambda: now, planner)
    run = [the_match(k, m, "p-2") for k, m in enumerate(["m-instant", "m-instant-2", "m-daily"])]
    async with pool.acquire() as conn, conn.transaction():
        await batch[run[0].type](run, conn)
    # No planner has run: the sender claims the instant ones at once.
    async with pool.acquire() as conn:
        claimed = await delivery.claim_many(conn, Dispatcher.table, 60, 10)
    members = await pool.fetch(
        "SELECT member_id FROM notifier.emails WHERE id = ANY($1::uuid[]) ORDER BY member_id",
        [c.key for c in claimed],
    )
    assert [r["member_id"] for r in members] == ["m-instant", "m-instant-2"]
    counted = await pool.fetchval(
        "SELECT jobs FROM notifier.weekly_counts WHERE member_id = 'm-instant'"
    )
    assert counted == 1
    await empty(pool)
