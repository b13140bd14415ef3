"""The SQL of planning many members at once (``instant.py``): the reads and
writes of ``sender.Dispatcher.plan_member``, each one statement for a batch
of members instead of one per member. Plain, parameterised, notifier schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.notifier.planning import Email, Pending
from shared.db import Connection


async def lock_due(
    conn: Connection, member_ids: Sequence[str], now: datetime
) -> dict[str, list[Pending]]:
    """Each member's pending notifications due at ``now``, locked; those another
    transaction holds (a planner at work on the member) are left to it."""
    rows = await conn.fetch(
        "SELECT id, member_id, posting_id, score, created_at, valid_through"
        " FROM notifier.notifications"
        " WHERE member_id = ANY($1::text[]) AND state = 'pending' AND due_at <= $2"
        " ORDER BY id FOR UPDATE SKIP LOCKED",
        list(member_ids),
        now,
    )
    due: dict[str, list[Pending]] = {}
    for r in rows:
        due.setdefault(r["member_id"], []).append(
            Pending(r["id"], r["posting_id"], r["score"], r["created_at"], r["valid_through"])
        )
    return due


async def sent_postings(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> frozenset[tuple[str, str]]:
    """The (member, posting) pairs already on their way or sent."""
    rows = await conn.fetch(
        "SELECT n.member_id, n.posting_id FROM notifier.notifications n"
        " JOIN unnest($1::text[], $2::text[]) AS p(member_id, posting_id)"
        "  ON n.member_id = p.member_id AND n.posting_id = p.posting_id"
        " WHERE n.state IN ('sending', 'sent')",
        [m for m, _ in pairs],
        [p for _, p in pairs],
    )
    return frozenset((r["member_id"], r["posting_id"]) for r in rows)


async def not_for_me(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> frozenset[tuple[str, str]]:
    """The (member, posting) pairs the member said "not for me" to."""
    rows = await conn.fetch(
        "SELECT f.member_id, f.posting_id FROM notifier.feedback f"
        " JOIN unnest($1::text[], $2::text[]) AS p(member_id, posting_id)"
        "  ON f.member_id = p.member_id AND f.posting_id = p.posting_id",
        [m for m, _ in pairs],
        [p for _, p in pairs],
    )
    return frozenset((r["member_id"], r["posting_id"]) for r in rows)


async def suppressed(conn: Connection, address_hashes: Sequence[bytes]) -> frozenset[bytes]:
    """Which of these keyed address hashes are suppressed."""
    rows = await conn.fetch(
        "SELECT address_hash FROM notifier.suppressed_addresses"
        " WHERE address_hash = ANY($1::bytea[])",
        list(address_hashes),
    )
    return frozenset(bytes(r["address_hash"]) for r in rows)


async def jobs_this_week(conn: Connection, weeks: Sequence[tuple[str, datetime]]) -> dict[str, int]:
    """Jobs counted so far for each (member, start of that member's week)."""
    rows = await conn.fetch(
        "SELECT w.member_id, w.jobs FROM notifier.weekly_counts w"
        " JOIN unnest($1::text[], $2::timestamptz[]) AS k(member_id, week_start)"
        "  ON w.member_id = k.member_id AND w.week_start = k.week_start",
        [m for m, _ in weeks],
        [w for _, w in weeks],
    )
    return {r["member_id"]: int(r["jobs"]) for r in rows}


async def cancel(conn: Connection, decisions: dict[uuid.UUID, str]) -> None:
    if decisions:
        await conn.execute(
            "UPDATE notifier.notifications AS n SET state = 'cancelled', reason = d.reason,"
            " updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS d(id, reason)"
            " WHERE n.id = d.id AND n.state = 'pending'",
            list(decisions),
            list(decisions.values()),
        )


async def defer(conn: Connection, decisions: dict[uuid.UUID, datetime]) -> None:
    if decisions:
        await conn.execute(
            "UPDATE notifier.notifications AS n SET due_at = d.due_at, updated_at = now()"
            " FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, due_at)"
            " WHERE n.id = d.id AND n.state = 'pending'",
            list(decisions),
            list(decisions.values()),
        )


async def create_emails(conn: Connection, emails: Sequence[tuple[str, Email]]) -> None:
    """``queries.create_email`` for many (member, email) in two statements: the
    email rows in state 'sending', their notifications pointing at them."""
    if not emails:
        return
    ids = [email.jobs[0].id if email.kind == "instant" else uuid.uuid4() for _, email in emails]
    await conn.execute(
        "INSERT INTO notifier.emails (id, member_id, kind, state)"
        " SELECT id, member_id, kind, 'sending'"
        " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS e(id, member_id, kind)",
        ids,
        [member_id for member_id, _ in emails],
        [email.kind for _, email in emails],
    )
    jobs = [
        (job.id, email_id) for email_id, (_, e) in zip(ids, emails, strict=True) for job in e.jobs
    ]
    await conn.execute(
        "UPDATE notifier.notifications AS n SET state = 'sending', email_id = j.email_id,"
        " updated_at = now() FROM unnest($1::uuid[], $2::uuid[]) AS j(id, email_id)"
        " WHERE n.id = j.id",
        [job for job, _ in jobs],
        [email_id for _, email_id in jobs],
    )


async def count_jobs(conn: Connection, counts: Sequence[tuple[str, datetime, int]]) -> None:
    """``queries.count_jobs`` for many (member, week start, jobs) in one statement."""
    if counts:
        await conn.execute(
            "INSERT INTO notifier.weekly_counts AS w (member_id, week_start, jobs)"
            " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[])"
            " ON CONFLICT (member_id, week_start) DO UPDATE SET jobs = w.jobs + EXCLUDED.jobs",
            [c[0] for c in counts],
            [c[1] for c in counts],
            [c[2] for c in counts],
        )
