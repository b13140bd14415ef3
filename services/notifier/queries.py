"""The notifier's SQL: plain, parameterised, on its own schema only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asyncpg import Record

from services.notifier.planning import Email, Pending, Prefs
from shared import member_companies
from shared.db import Connection
from shared.events import JobPosting, MatchFound, MemberChanged

# --- members -------------------------------------------------------------------------


async def member(conn: Connection, member_id: str) -> Prefs | None:
    row = await conn.fetchrow("SELECT * FROM notifier.members WHERE member_id = $1", member_id)
    return None if row is None else Prefs.from_row(dict(row))


async def member_by_link(conn: Connection, link_id: uuid.UUID) -> Prefs | None:
    row = await conn.fetchrow("SELECT * FROM notifier.members WHERE link_id = $1", link_id)
    return None if row is None else Prefs.from_row(dict(row))


UPSERT_MEMBER = """
    INSERT INTO notifier.members AS m (member_id, revision, opted_in, language, timezone,
        frequency, quiet_hours, paused_until, sealed_contact, profile)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
    WHERE NOT EXISTS (SELECT 1 FROM notifier.erased_members WHERE member_id = $1)
    ON CONFLICT (member_id) DO UPDATE SET
        revision = EXCLUDED.revision,
        opted_in = EXCLUDED.opted_in,
        language = EXCLUDED.language,
        timezone = EXCLUDED.timezone,
        frequency = EXCLUDED.frequency,
        quiet_hours = EXCLUDED.quiet_hours,
        paused_until = EXCLUDED.paused_until,
        sealed_contact = EXCLUDED.sealed_contact,
        profile = EXCLUDED.profile,
        local_frequency = CASE WHEN EXCLUDED.frequency IS DISTINCT FROM m.frequency
            THEN NULL ELSE m.local_frequency END,
        local_language = CASE WHEN EXCLUDED.language IS DISTINCT FROM m.language
            THEN NULL ELSE m.local_language END,
        local_quiet_hours = CASE WHEN EXCLUDED.quiet_hours IS DISTINCT FROM m.quiet_hours
            THEN NULL ELSE m.local_quiet_hours END,
        local_paused_until = CASE WHEN EXCLUDED.paused_until IS DISTINCT FROM m.paused_until
            THEN NULL ELSE m.local_paused_until END,
        unsubscribed_at = CASE WHEN EXCLUDED.opted_in AND NOT m.opted_in
            THEN NULL ELSE m.unsubscribed_at END,
        updated_at = now()
    WHERE EXCLUDED.revision >= m.revision
    RETURNING true
"""


def _member_args(m: MemberChanged, paused_until: datetime | None) -> tuple[Any, ...]:
    member_companies.require_opened(m)  # the page would show no blocked company
    return (
        m.member_id,
        m.revision,
        m.opted_in,
        m.language,
        m.timezone,
        m.frequency,
        list(m.quiet_hours),
        paused_until,
        m.sealed_contact,
        {
            "desired_roles": list(m.desired_roles),
            "cities": list(m.cities),
            "remote": m.remote,
            "languages": list(m.languages),
            "blocked_companies": list(m.blocked_companies),
        },
    )


async def upsert_member(conn: Connection, m: MemberChanged, paused_until: datetime | None) -> bool:
    """Apply a profile unless a newer revision is already here or the member was erased.

    A choice the member made through a link (local_*) survives until the
    platform sends a different value for that field: the newer word wins.
    """
    return bool(await conn.fetchval(UPSERT_MEMBER, *_member_args(m, paused_until)))


async def upsert_members(
    conn: Connection, members: Sequence[tuple[MemberChanged, datetime | None]]
) -> dict[str, Prefs]:
    """``upsert_member`` for many members (one per id) in one round trip; the
    preferences of those whose profile was applied (its revision is the one stored)."""
    await conn.executemany(UPSERT_MEMBER, [_member_args(m, paused) for m, paused in members])
    revisions = {m.member_id: m.revision for m, _paused in members}
    rows = await conn.fetch(
        "SELECT * FROM notifier.members WHERE member_id = ANY($1::text[])", list(revisions)
    )
    return {
        row["member_id"]: Prefs.from_row(dict(row))
        for row in rows
        if row["revision"] == revisions[row["member_id"]]
    }


async def member_profile(conn: Connection, member_id: str) -> dict[str, Any]:
    """The matching profile the preference page shows (see migration 006)."""
    profile = await conn.fetchval(
        "SELECT profile FROM notifier.members WHERE member_id = $1", member_id
    )
    return dict(profile or {})


async def erase_member(conn: Connection, member_id: str) -> None:
    await conn.execute(
        "INSERT INTO notifier.erased_members (member_id) VALUES ($1) ON CONFLICT DO NOTHING",
        member_id,
    )
    await conn.execute("DELETE FROM notifier.members WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM notifier.feedback WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM notifier.weekly_counts WHERE member_id = $1", member_id)
    await cancel_member_pending(conn, member_id, "member erased")


async def set_choice(conn: Connection, member_id: str, **values: Any) -> None:
    """Record what a member chose through a link (unsubscribed_at, local_*)."""
    allowed = {
        "unsubscribed_at",
        "local_paused_until",
        "local_frequency",
        "local_language",
        "local_quiet_hours",
    }
    if not values or set(values) - allowed:
        raise ValueError(f"unknown choice {sorted(set(values) - allowed)}")
    columns = sorted(values)
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    await conn.execute(
        f"UPDATE notifier.members SET {assignments}, updated_at = now() WHERE member_id = $1",  # noqa: S608 - column names from the allow-list
        member_id,
        *(values[c] for c in columns),
    )


async def reschedule_member(conn: Connection, member_id: str, due: datetime) -> None:
    await conn.execute(
        "UPDATE notifier.notifications SET due_at = $2, updated_at = now()"
        " WHERE member_id = $1 AND state = 'pending'",
        member_id,
        due,
    )


async def reschedule_members(conn: Connection, due: dict[str, datetime]) -> None:
    await conn.execute(
        "UPDATE notifier.notifications n SET due_at = d.due_at, updated_at = now()"
        " FROM unnest($1::text[], $2::timestamptz[]) AS d (member_id, due_at)"
        " WHERE n.member_id = d.member_id AND n.state = 'pending'",
        list(due),
        list(due.values()),
    )


async def cancel_members_pending(conn: Connection, member_ids: Sequence[str], reason: str) -> None:
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = $2, updated_at = now()"
        " WHERE member_id = ANY($1::text[]) AND state = 'pending'",
        list(member_ids),
        reason,
    )


async def cancel_member_pending(conn: Connection, member_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = $2, updated_at = now()"
        " WHERE member_id = $1 AND state = 'pending'",
        member_id,
        reason,
    )


# --- postings and matches -------------------------------------------------------------


async def posting_opened(conn: Connection, posting: JobPosting) -> None:
    await conn.execute(
        """
        INSERT INTO notifier.postings AS p (posting_id, revision, open, description,
            salary_min, salary_max, salary_currency, salary_period)
        VALUES ($1, $2, true, $3, $4, $5, $6, $7)
        ON CONFLICT (posting_id) DO UPDATE SET revision = EXCLUDED.revision, updated_at = now(),
            description = EXCLUDED.description, salary_min = EXCLUDED.salary_min,
            salary_max = EXCLUDED.salary_max, salary_currency = EXCLUDED.salary_currency,
            salary_period = EXCLUDED.salary_period
        WHERE p.open AND EXCLUDED.revision > p.revision
        """,
        posting.posting_id,
        posting.revision,
        _no_nul(posting.description),
        posting.salary_min,
        posting.salary_max,
        posting.salary_currency,
        posting.salary_period,
    )


async def opening(conn: Connection, posting_id: str) -> Record | None:
    """What the opening page shows beyond the notification: None if no job
    event reached us (the posting is then taken as open, as everywhere)."""
    return await conn.fetchrow(
        "SELECT open, description, salary_min, salary_max, salary_currency, salary_period"
        " FROM notifier.postings WHERE posting_id = $1",
        posting_id,
    )


async def posting_closed(conn: Connection, posting_id: str, revision: int) -> None:
    await conn.execute(
        """
        INSERT INTO notifier.postings AS p (posting_id, revision, open, closed_at)
        VALUES ($1, $2, false, now())
        ON CONFLICT (posting_id) DO UPDATE SET open = false, closed_at = now(),
            revision = greatest(p.revision, EXCLUDED.revision), updated_at = now()
        """,
        posting_id,
        revision,
    )
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = 'posting closed',"
        " updated_at = now() WHERE posting_id = $1 AND state = 'pending'",
        posting_id,
    )


async def posting_is_closed(conn: Connection, posting_id: str) -> bool:
    closed = await conn.fetchval(
        "SELECT NOT open FROM notifier.postings WHERE posting_id = $1", posting_id
    )
    return bool(closed)


async def match_withdrawn(conn: Connection, match_id: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO notifier.withdrawn_matches (match_id, reason) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        match_id,
        reason,
    )
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = 'match withdrawn',"
        " updated_at = now() WHERE match_id = $1 AND state = 'pending'",
        match_id,
    )


async def matches_withdrawn(conn: Connection, withdrawn: Sequence[tuple[str, str]]) -> None:
    """``match_withdrawn`` for many (match id, reason): the first reason of a
    match id is kept, as one by one."""
    first: dict[str, str] = {}
    for match_id, reason in withdrawn:
        first.setdefault(match_id, reason)
    await conn.execute(
        "INSERT INTO notifier.withdrawn_matches (match_id, reason)"
        " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        list(first),
        list(first.values()),
    )
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = 'match withdrawn',"
        " updated_at = now() WHERE match_id = ANY($1::text[]) AND state = 'pending'",
        list(first),
    )


async def add_notification(
    conn: Connection, m: MatchFound, *, due: datetime, state: str, reason: str | None
) -> None:
    """One row per match id: a match.found published twice is stored once."""
    await conn.execute(
        """
        INSERT INTO notifier.notifications (id, match_id, member_id, posting_id, posting_revision,
            score, explanation, title, company_name, city, region, country, remote, apply_url,
            valid_through, state, due_at, reason)
        SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15,
            CASE WHEN EXISTS (SELECT 1 FROM notifier.withdrawn_matches WHERE match_id = $2)
                THEN 'cancelled' ELSE $16 END,
            $17,
            CASE WHEN EXISTS (SELECT 1 FROM notifier.withdrawn_matches WHERE match_id = $2)
                THEN 'match withdrawn' ELSE $18 END
        ON CONFLICT (match_id) DO NOTHING
        """,
        uuid.uuid4(),
        m.match_id,
        m.member_id,
        m.posting_id,
        m.posting_revision,
        float(m.score),
        # The pool's codec encodes jsonb: a json.dumps here would store a string.
        _no_nul(dict(m.explanation)),
        _no_nul(m.title),
        _no_nul(m.company_name),
        _no_nul(m.city),
        _no_nul(m.region),
        _no_nul(m.country),
        m.remote,
        _no_nul(m.apply_url),
        _no_nul(m.valid_through),
        state,
        due,
        reason,
    )


async def add_notifications(
    conn: Connection, rows: Sequence[tuple[MatchFound, datetime, str, str | None]]
) -> None:
    """``add_notification`` for many matches (match, due, state, reason) in one
    statement; the first of a match id wins, as one by one."""
    first: dict[str, tuple[MatchFound, datetime, str, str | None]] = {}
    for row in rows:
        first.setdefault(row[0].match_id, row)
    kept = list(first.values())
    await conn.execute(
        """
        INSERT INTO notifier.notifications AS n (id, match_id, member_id, posting_id,
            posting_revision, score, explanation, title, company_name, city, region, country,
            remote, apply_url, valid_through, state, due_at, reason)
        SELECT r.id, r.match_id, r.member_id, r.posting_id, r.posting_revision, r.score,
            r.explanation, r.title, r.company_name, r.city, r.region, r.country, r.remote,
            r.apply_url, r.valid_through,
            CASE WHEN w.match_id IS NOT NULL THEN 'cancelled' ELSE r.state END,
            r.due_at,
            CASE WHEN w.match_id IS NOT NULL THEN 'match withdrawn' ELSE r.reason END
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[],
            $6::float8[], $7::jsonb[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
            $17::timestamptz[], $18::text[])
            WITH ORDINALITY AS r(id, match_id, member_id, posting_id, posting_revision, score,
                explanation, title, company_name, city, region, country, remote, apply_url,
                valid_through, state, due_at, reason, ord)
        LEFT JOIN notifier.withdrawn_matches w ON w.match_id = r.match_id
        ORDER BY r.ord
        ON CONFLICT (match_id) DO NOTHING
        """,
        [uuid.uuid4() for _ in kept],
        [m.match_id for m, *_ in kept],
        [m.member_id for m, *_ in kept],
        [m.posting_id for m, *_ in kept],
        [m.posting_revision for m, *_ in kept],
        [float(m.score) for m, *_ in kept],
        [_no_nul(dict(m.explanation)) for m, *_ in kept],
        [_no_nul(m.title) for m, *_ in kept],
        [_no_nul(m.company_name) for m, *_ in kept],
        [_no_nul(m.city) for m, *_ in kept],
        [_no_nul(m.region) for m, *_ in kept],
        [_no_nul(m.country) for m, *_ in kept],
        [m.remote for m, *_ in kept],
        [_no_nul(m.apply_url) for m, *_ in kept],
        [_no_nul(m.valid_through) for m, *_ in kept],
        [state for _m, _due, state, _reason in kept],
        [due for _m, due, _state, _reason in kept],
        [reason for *_, reason in kept],
    )


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: a company's title with one must not cost the
    match. (The bodies clean control characters again when they are rendered.)"""
    if isinstance(value, str):
        return value.replace("\x00", " ")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nul(v) for v in value]
    return value


# --- planning -----------------------------------------------------------------------


async def due_members(conn: Connection, limit: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT member_id FROM ("
        "  SELECT member_id FROM notifier.notifications n"
        "  WHERE state = 'pending' AND due_at <= now()"
        # A member set aside by the planner waits for an operator's retry.
        "  AND NOT EXISTS (SELECT 1 FROM shared.quarantine q WHERE q.task = 'planner'"
        "   AND q.record_id = n.member_id AND q.released_at IS NULL)"
        "  ORDER BY due_at LIMIT $1"
        ") due",
        limit,
    )
    return [r["member_id"] for r in rows]


async def lock_due(conn: Connection, member_id: str) -> list[Pending]:
    rows = await conn.fetch(
        "SELECT id, posting_id, score, created_at, valid_through FROM notifier.notifications"
        " WHERE member_id = $1 AND state = 'pending' AND due_at <= now()"
        " FOR UPDATE SKIP LOCKED",
        member_id,
    )
    return [
        Pending(r["id"], r["posting_id"], r["score"], r["created_at"], r["valid_through"])
        for r in rows
    ]


async def closed_postings(conn: Connection, posting_ids: Sequence[str]) -> frozenset[str]:
    rows = await conn.fetch(
        "SELECT posting_id FROM notifier.postings WHERE posting_id = ANY($1) AND NOT open",
        list(posting_ids),
    )
    return frozenset(r["posting_id"] for r in rows)


async def sent_postings(
    conn: Connection, member_id: str, posting_ids: Sequence[str]
) -> frozenset[str]:
    rows = await conn.fetch(
        "SELECT posting_id FROM notifier.notifications WHERE member_id = $1"
        " AND posting_id = ANY($2) AND state IN ('sending', 'sent')",
        member_id,
        list(posting_ids),
    )
    return frozenset(r["posting_id"] for r in rows)


async def not_for_me(
    conn: Connection, member_id: str, posting_ids: Sequence[str]
) -> frozenset[str]:
    rows = await conn.fetch(
        "SELECT posting_id FROM notifier.feedback WHERE member_id = $1 AND posting_id = ANY($2)",
        member_id,
        list(posting_ids),
    )
    return frozenset(r["posting_id"] for r in rows)


async def is_suppressed(conn: Connection, address_hashes: list[bytes]) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM notifier.suppressed_addresses WHERE address_hash = ANY($1)",
        address_hashes,
    )
    return bool(found)


async def jobs_this_week(conn: Connection, member_id: str, week_start: datetime) -> int:
    jobs = await conn.fetchval(
        "SELECT jobs FROM notifier.weekly_counts WHERE member_id = $1 AND week_start = $2",
        member_id,
        week_start,
    )
    return int(jobs or 0)


async def count_jobs(conn: Connection, member_id: str, week_start: datetime, jobs: int) -> None:
    await conn.execute(
        """
        INSERT INTO notifier.weekly_counts AS w (member_id, week_start, jobs) VALUES ($1, $2, $3)
        ON CONFLICT (member_id, week_start) DO UPDATE SET jobs = w.jobs + EXCLUDED.jobs
        """,
        member_id,
        week_start,
        jobs,
    )


async def cancel(conn: Connection, decisions: dict[uuid.UUID, str]) -> None:
    if decisions:
        await conn.executemany(
            "UPDATE notifier.notifications SET state = 'cancelled', reason = $2,"
            " updated_at = now() WHERE id = $1 AND state = 'pending'",
            list(decisions.items()),
        )


async def defer(conn: Connection, decisions: dict[uuid.UUID, datetime]) -> None:
    if decisions:
        await conn.executemany(
            "UPDATE notifier.notifications SET due_at = $2, updated_at = now()"
            " WHERE id = $1 AND state = 'pending'",
            list(decisions.items()),
        )


async def create_email(conn: Connection, member_id: str, email: Email) -> uuid.UUID:
    """The email row in state 'sending', committed by the caller before any SMTP.

    An instant email takes its notification's id, so Message-ID derives from it.
    """
    email_id = email.jobs[0].id if email.kind == "instant" else uuid.uuid4()
    await conn.execute(
        "INSERT INTO notifier.emails (id, member_id, kind, state) VALUES ($1, $2, $3, 'sending')",
        email_id,
        member_id,
        email.kind,
    )
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'sending', email_id = $1, updated_at = now()"
        " WHERE id = ANY($2)",
        email_id,
        [job.id for job in email.jobs],
    )
    return email_id


# --- planning many members at once (plan_batches) ---------------------------------------


async def lock_due_many(conn: Connection, member_ids: Sequence[str]) -> dict[str, list[Pending]]:
    """``lock_due`` for many members in one statement: each member's due rows."""
    rows = await conn.fetch(
        "SELECT id, member_id, posting_id, score, created_at, valid_through"
        " FROM notifier.notifications"
        " WHERE member_id = ANY($1::text[]) AND state = 'pending' AND due_at <= now()"
        " FOR UPDATE SKIP LOCKED",
        list(member_ids),
    )
    due: dict[str, list[Pending]] = {}
    for r in rows:
        due.setdefault(r["member_id"], []).append(
            Pending(r["id"], r["posting_id"], r["score"], r["created_at"], r["valid_through"])
        )
    return due


async def sent_pairs(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> frozenset[tuple[str, str]]:
    """``sent_postings`` for many (member id, posting id) pairs. Asked as two
    ``ANY`` lists (the member index, then the postings) and narrowed to the
    pairs here: a join on ``unnest`` was planned as a scan of every row."""
    members, postings = sorted({m for m, _ in pairs}), sorted({p for _, p in pairs})
    rows = await conn.fetch(
        "SELECT member_id, posting_id FROM notifier.notifications"
        " WHERE member_id = ANY($1::text[]) AND posting_id = ANY($2::text[])"
        " AND state IN ('sending', 'sent')",
        members,
        postings,
    )
    wanted = set(pairs)
    return frozenset(
        pair for pair in ((r["member_id"], r["posting_id"]) for r in rows) if pair in wanted
    )


async def not_for_me_pairs(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> frozenset[tuple[str, str]]:
    """``not_for_me`` for many (member id, posting id) pairs (as ``sent_pairs``)."""
    members, postings = sorted({m for m, _ in pairs}), sorted({p for _, p in pairs})
    rows = await conn.fetch(
        "SELECT member_id, posting_id FROM notifier.feedback"
        " WHERE member_id = ANY($1::text[]) AND posting_id = ANY($2::text[])",
        members,
        postings,
    )
    wanted = set(pairs)
    return frozenset(
        pair for pair in ((r["member_id"], r["posting_id"]) for r in rows) if pair in wanted
    )


async def suppressed_of(conn: Connection, address_hashes: Sequence[bytes]) -> list[bytes]:
    """Which of these address hashes are suppressed."""
    rows = await conn.fetch(
        "SELECT address_hash FROM notifier.suppressed_addresses"
        " WHERE address_hash = ANY($1::bytea[])",
        list(address_hashes),
    )
    return [bytes(r["address_hash"]) for r in rows]


async def jobs_this_week_many(conn: Connection, week_start: dict[str, datetime]) -> dict[str, int]:
    """``jobs_this_week`` for many members, each with its own week start."""
    rows = await conn.fetch(
        "SELECT w.member_id, w.jobs FROM notifier.weekly_counts w"
        " JOIN unnest($1::text[], $2::timestamptz[]) AS k(member_id, week_start)"
        "  ON w.member_id = k.member_id AND w.week_start = k.week_start",
        list(week_start),
        list(week_start.values()),
    )
    return {r["member_id"]: int(r["jobs"]) for r in rows}


async def cancel_many(conn: Connection, decisions: dict[uuid.UUID, str]) -> None:
    """``cancel`` in one statement."""
    if decisions:
        await conn.execute(
            "UPDATE notifier.notifications n SET state = 'cancelled', reason = d.reason,"
            " updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS d(id, reason)"
            " WHERE n.id = d.id AND n.state = 'pending'",
            list(decisions),
            list(decisions.values()),
        )


async def defer_many(conn: Connection, decisions: dict[uuid.UUID, datetime]) -> None:
    """``defer`` in one statement."""
    if decisions:
        await conn.execute(
            "UPDATE notifier.notifications n SET due_at = d.due_at, updated_at = now()"
            " FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, due_at)"
            " WHERE n.id = d.id AND n.state = 'pending'",
            list(decisions),
            list(decisions.values()),
        )


async def create_emails(conn: Connection, emails: Sequence[tuple[str, Email]]) -> list[uuid.UUID]:
    """``create_email`` for many (member id, email) in two statements."""
    if not emails:
        return []
    ids = [e.jobs[0].id if e.kind == "instant" else uuid.uuid4() for _, e in emails]
    await conn.execute(
        "INSERT INTO notifier.emails (id, member_id, kind, state)"
        " SELECT id, member_id, kind, 'sending'"
        " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS e(id, member_id, kind)",
        ids,
        [m for m, _ in emails],
        [e.kind for _, e in emails],
    )
    jobs = [
        (job.id, email_id) for email_id, (_, e) in zip(ids, emails, strict=True) for job in e.jobs
    ]
    await conn.execute(
        "UPDATE notifier.notifications n SET state = 'sending', email_id = j.email_id,"
        " updated_at = now() FROM unnest($1::uuid[], $2::uuid[]) AS j(id, email_id)"
        " WHERE n.id = j.id",
        [j for j, _ in jobs],
        [e for _, e in jobs],
    )
    return ids


async def count_jobs_many(conn: Connection, counts: dict[str, tuple[datetime, int]]) -> None:
    """``count_jobs`` for many members (each once): member id -> (week start, jobs)."""
    if counts:
        await conn.execute(
            "INSERT INTO notifier.weekly_counts AS w (member_id, week_start, jobs)"
            " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[])"
            " ON CONFLICT (member_id, week_start) DO UPDATE SET jobs = w.jobs + EXCLUDED.jobs",
            list(counts),
            [w for w, _ in counts.values()],
            [n for _, n in counts.values()],
        )


# --- sending ------------------------------------------------------------------------


async def email_row(conn: Connection, email_id: uuid.UUID) -> Record:
    row = await conn.fetchrow("SELECT * FROM notifier.emails WHERE id = $1", email_id)
    assert row is not None, "a claimed email is never deleted while claimed"
    return row


async def email_jobs(conn: Connection, email_id: uuid.UUID) -> list[Record]:
    return await conn.fetch(
        "SELECT * FROM notifier.notifications WHERE email_id = $1 ORDER BY score DESC, id",
        email_id,
    )


async def email_rows(conn: Connection, email_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Record]:
    rows = await conn.fetch("SELECT * FROM notifier.emails WHERE id = ANY($1::uuid[])", email_ids)
    return {r["id"]: r for r in rows}


async def members(conn: Connection, member_ids: Sequence[str]) -> dict[str, Prefs]:
    rows = await conn.fetch(
        "SELECT * FROM notifier.members WHERE member_id = ANY($1::text[])", list(set(member_ids))
    )
    return {r["member_id"]: Prefs.from_row(dict(r)) for r in rows}


async def emails_jobs(
    conn: Connection, email_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Record]]:
    """Each email's jobs, best first (as ``email_jobs``)."""
    rows = await conn.fetch(
        "SELECT * FROM notifier.notifications WHERE email_id = ANY($1::uuid[])"
        " ORDER BY email_id, score DESC, id",
        email_ids,
    )
    jobs: dict[uuid.UUID, list[Record]] = {e: [] for e in email_ids}
    for r in rows:
        jobs[r["email_id"]].append(r)
    return jobs


async def record_emails(
    conn: Connection,
    outcomes: Sequence[tuple[uuid.UUID, str, int | None, str | None, str | None]],
) -> None:
    """``record_email`` and, for an email no longer in flight, ``settle_notifications``,
    for many emails in two statements: (id, state, code, reply, reason)."""
    ids = [o[0] for o in outcomes]
    states = [o[1] for o in outcomes]
    await conn.execute(
        "UPDATE notifier.emails AS e SET last_attempt_at = now(), smtp_code = o.code,"
        " smtp_reply = o.reply, sent_at = CASE WHEN o.state = 'sent' THEN now() END"
        " FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) AS o(id, state, code, reply)"
        " WHERE e.id = o.id",
        ids,
        states,
        [o[2] for o in outcomes],
        [o[3] for o in outcomes],
    )
    await conn.execute(
        "UPDATE notifier.notifications AS n SET state = o.state, reason = o.reason,"
        " updated_at = now()"
        " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS o(id, state, reason)"
        " WHERE n.email_id = o.id AND o.state <> 'sending'",
        ids,
        states,
        [o[4] for o in outcomes],
    )


async def record_email(
    conn: Connection, email_id: uuid.UUID, state: str, code: int | None, reply: str | None
) -> None:
    """The SMTP side of an outcome (the delivery runner has set state and reason)."""
    await conn.execute(
        "UPDATE notifier.emails SET last_attempt_at = now(), smtp_code = $3, smtp_reply = $4,"
        " sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1",
        email_id,
        state,
        code,
        reply,
    )


async def settle_notifications(
    conn: Connection, email_id: uuid.UUID, state: str, reason: str | None
) -> None:
    """The jobs in an email follow it: sent, failed or cancelled."""
    await conn.execute(
        "UPDATE notifier.notifications SET state = $2, reason = $3, updated_at = now()"
        " WHERE email_id = $1",
        email_id,
        state,
        reason,
    )


async def unsettle_notifications(conn: Connection, email_id: uuid.UUID) -> None:
    """An operator sends a failed email again: its jobs are on their way again."""
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'sending', reason = NULL, updated_at = now()"
        " WHERE email_id = $1 AND state = 'failed'",
        email_id,
    )


async def suppress(
    conn: Connection, address_hash: bytes, code: int, reply: str, email_id: uuid.UUID
) -> None:
    await conn.execute(
        "INSERT INTO notifier.suppressed_addresses (address_hash, smtp_code, smtp_reply, email_id)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (address_hash) DO NOTHING",
        address_hash,
        code,
        reply,
        email_id,
    )


# --- links --------------------------------------------------------------------------


async def notification(conn: Connection, notification_id: uuid.UUID) -> Record | None:
    return await conn.fetchrow(
        "SELECT * FROM notifier.notifications WHERE id = $1", notification_id
    )


async def record_not_for_me(conn: Connection, n: Record, reason: str) -> None:
    await conn.execute(
        """
        INSERT INTO notifier.feedback (member_id, posting_id, notification_id, reason)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (member_id, posting_id) DO UPDATE SET reason = EXCLUDED.reason,
            created_at = now()
        """,
        n["member_id"],
        n["posting_id"],
        n["id"],
        reason,
    )
    await conn.execute(
        "UPDATE notifier.notifications SET state = 'cancelled', reason = 'not for me',"
        " updated_at = now() WHERE member_id = $1 AND posting_id = $2 AND state = 'pending'",
        n["member_id"],
        n["posting_id"],
    )


async def count_pending(conn: Connection) -> int:
    """Notifications waiting for their slot: the digest and quiet-hours backlog."""
    return int(
        await conn.fetchval("SELECT count(*) FROM notifier.notifications WHERE state = 'pending'")
    )
