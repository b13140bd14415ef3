"""Many members' due notifications planned together: one transaction, a
handful of statements, whatever the number of members.

A daily digest falls due for every member of a zone in the same minute. One
member at a time, each plan was a dozen round trips and a commit (lock, the
profile, five kinds of facts, then a statement per decision and per email):
100,000 members meant over a million round trips before the first digest was
composed. Here a batch of members is locked with one ``SELECT … FOR UPDATE
SKIP LOCKED``, its facts are loaded with ``ANY``/``unnest`` (one query per
kind of fact, for every member at once), each member is planned by the same
pure ``planning.plan`` as before (quiet hours, pause, opt-out, suppression,
closed, expired, already sent, "not for me", the weekly cap), and the
decisions are written with ``unnest`` in one commit.

One bad member never stops the others: a member whose own facts cannot be
planned (``planning.plan`` or its contact raising) is left out of the batch
and named in ``Batch.alone``; a batch whose statements fail for any reason
but the database being away is rolled back whole and every member named
alone. The caller plans those one by one, each in its own transaction, where
a failure quarantines only that member (``shared/quarantine.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from services.notifier import planning, queries
from services.notifier.planning import Email, Facts, Pending, Plan, Prefs
from services.notifier.schedule import member_zone, week_bounds
from shared import logs
from shared.db import UNAVAILABLE, Connection, Pool

log = logs.get_logger(__name__)

# Due rows read per batch: a daily digest has a few jobs per member, so a few
# hundred members, planned in one transaction of well under a second. Larger
# batches gain little (the statements are already per batch, not per member)
# and hold their rows' locks longer.
ROWS_PER_ROUND = 4000
# A round's members are planned in this many transactions side by side, so
# that one batch's Python (opening contacts, deciding) overlaps another's
# statements in PostgreSQL.
SIDE_BY_SIDE = 2

_DB_DOWN: tuple[type[BaseException], ...] = (OSError, *UNAVAILABLE)


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """What the database says about a batch of members, in the same transaction."""

    pending: dict[str, list[Pending]]
    prefs: dict[str, Prefs]
    closed_postings: frozenset[str]
    sent: frozenset[tuple[str, str]]  # (member id, posting id) already on its way or sent
    not_for_me: frozenset[tuple[str, str]]
    suppressed: frozenset[str]  # member ids whose address refused mail for good
    week_start: dict[str, datetime]
    jobs_this_week: dict[str, int]

    def facts(self, member_id: str) -> Facts:
        """The member's ``Facts``, as ``Dispatcher.plan_member`` loads them alone."""
        if member_id not in self.prefs:
            return Facts()
        postings = {p.posting_id for p in self.pending[member_id]}
        return Facts(
            closed_postings=frozenset(postings & self.closed_postings),
            sent_postings=frozenset(p for p in postings if (member_id, p) in self.sent),
            not_for_me=frozenset(p for p in postings if (member_id, p) in self.not_for_me),
            address_suppressed=member_id in self.suppressed,
            jobs_this_week=self.jobs_this_week.get(member_id, 0),
        )


@dataclasses.dataclass
class Batch:
    emails: int = 0
    cancel_reasons: set[str] = dataclasses.field(default_factory=set)
    alone: list[str] = dataclasses.field(default_factory=list)  # to be planned one by one


def week_starts(prefs: Iterable[Prefs], now: datetime) -> dict[str, datetime]:
    """Each member's local Monday 00:00 (the weekly cap's window), computed
    once per time zone rather than once per member."""
    by_zone: dict[str, datetime] = {}
    starts: dict[str, datetime] = {}
    for p in prefs:
        if p.timezone not in by_zone:
            by_zone[p.timezone] = week_bounds(now, member_zone(p.timezone))[0]
        starts[p.member_id] = by_zone[p.timezone]
    return starts


def decide(loaded: Loaded, *, now: datetime, weekly_cap: int) -> tuple[dict[str, Plan], list[str]]:
    """Each member's plan, and the members whose plan raised (left for one by one)."""
    plans: dict[str, Plan] = {}
    failed: list[str] = []
    for member_id, pending in loaded.pending.items():
        try:
            plans[member_id] = planning.plan(
                loaded.prefs.get(member_id),
                pending,
                loaded.facts(member_id),
                now=now,
                weekly_cap=weekly_cap,
            )
        except Exception:  # planned again alone, where it is quarantined
            failed.append(member_id)
    return plans, failed


async def load(
    conn: Connection,
    member_ids: Sequence[str],
    *,
    now: datetime,
    address_hashes: Callable[[Prefs], list[bytes]],
) -> tuple[Loaded, list[str]]:
    """Lock the batch's due notifications and load its facts; the members whose
    address could not be checked come back apart, to be planned alone."""
    pending = await queries.lock_due_many(conn, member_ids)
    prefs = {m: p for m, p in (await queries.members(conn, list(pending))).items() if m in pending}
    return await load_facts(conn, pending, prefs, now=now, address_hashes=address_hashes)


async def load_facts(
    conn: Connection,
    pending: dict[str, list[Pending]],
    prefs: dict[str, Prefs],
    *,
    now: datetime,
    address_hashes: Callable[[Prefs], list[bytes]],
) -> tuple[Loaded, list[str]]:
    """The facts of these members' locked notifications (also the consumer's,
    ``instant.py``); the members whose address could not be checked come back
    apart."""
    pairs = sorted({(m, p.posting_id) for m in prefs for p in pending[m]})
    hashes: dict[bytes, str] = {}
    failed: list[str] = []
    for p in prefs.values():
        try:
            for h in address_hashes(p):
                hashes[h] = p.member_id
        except Exception:  # planned again alone, where it is quarantined
            failed.append(p.member_id)
    starts = week_starts(prefs.values(), now)
    loaded = Loaded(
        pending=pending,
        prefs=prefs,
        closed_postings=await queries.closed_postings(
            conn, sorted({p.posting_id for rows in pending.values() for p in rows})
        ),
        sent=await queries.sent_pairs(conn, pairs),
        not_for_me=await queries.not_for_me_pairs(conn, pairs),
        suppressed=frozenset(hashes[h] for h in await queries.suppressed_of(conn, list(hashes))),
        week_start=starts,
        jobs_this_week=await queries.jobs_this_week_many(conn, starts),
    )
    return loaded, failed


async def apply(
    conn: Connection, plans: dict[str, Plan], week_start: dict[str, datetime], now: datetime
) -> int:
    """Write the plans: cancels, defers, email rows in ``sending``, weekly counts."""
    cancel: dict[uuid.UUID, str] = {}
    defer: dict[uuid.UUID, datetime] = {}
    emails: list[tuple[str, Email]] = []
    counts: dict[str, int] = {}
    for member_id, decided in plans.items():
        cancel.update(decided.cancel)
        defer.update(decided.defer)
        emails.extend((member_id, e) for e in decided.emails)
        if decided.jobs:
            counts[member_id] = decided.jobs
    await queries.cancel_many(conn, cancel)
    await queries.defer_many(conn, defer)
    await queries.create_emails(conn, emails)
    # A member unknown to the planner (no prefs) never gets an email, so every
    # counted member has a week start.
    await queries.count_jobs_many(conn, {m: (week_start.get(m, now), n) for m, n in counts.items()})
    return len(emails)


async def plan_together(
    pool: Pool,
    member_ids: Sequence[str],
    *,
    now: datetime,
    weekly_cap: int,
    address_hashes: Callable[[Prefs], list[bytes]],
) -> Batch:
    """Plan ``member_ids`` in one transaction. The database being away is
    raised (the planner's loop waits it out); any other failure of the batch
    leaves it untouched and every member in ``alone``."""
    batch = Batch()
    if not member_ids:
        return batch
    try:
        async with pool.acquire() as conn, conn.transaction():
            loaded, failed = await load(conn, member_ids, now=now, address_hashes=address_hashes)
            for member_id in failed:
                loaded.pending.pop(member_id, None)
            plans, more_failed = decide(loaded, now=now, weekly_cap=weekly_cap)
            batch.emails = await apply(conn, plans, loaded.week_start, now)
    except _DB_DOWN:
        raise
    except Exception as exc:  # redone member by member: a bad one fails alone
        log.warning("planning batch redone one member at a time", error=type(exc).__name__)
        return Batch(alone=list(member_ids))
    batch.alone = failed + more_failed
    batch.cancel_reasons = {r for p in plans.values() for r in p.cancel.values()}
    return batch


async def plan_round(
    pool: Pool,
    member_ids: Sequence[str],
    *,
    now: datetime,
    weekly_cap: int,
    address_hashes: Callable[[Prefs], list[bytes]],
) -> Batch:
    """``plan_together`` over ``SIDE_BY_SIDE`` disjoint slices of ``member_ids``,
    each its own transaction; their results merged."""
    size = max(1, -(-len(member_ids) // SIDE_BY_SIDE))
    slices = [member_ids[i : i + size] for i in range(0, len(member_ids), size)]
    try:
        async with asyncio.TaskGroup() as tasks:
            planned = [
                tasks.create_task(
                    plan_together(
                        pool, s, now=now, weekly_cap=weekly_cap, address_hashes=address_hashes
                    )
                )
                for s in slices
            ]
    except ExceptionGroup as group:
        raise group.exceptions[0] from None  # the database away: the planner's loop waits
    merged = Batch()
    for task in planned:
        merged.emails += task.result().emails
        merged.cancel_reasons |= task.result().cancel_reasons
        merged.alone += task.result().alone
    return merged
