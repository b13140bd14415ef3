"""The matcher's SQL: plain, parameterised text, and thin typed functions over it.

Only the matcher's own schema is read or written here (never ingest's tables):
its member read model, the postings it has seen, its matches and the
imported taxonomy titles.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import orjson
from asyncpg import Record

from services.matcher.declines import Decline, RoleDeclines
from shared.db import Connection
from shared.events import JobPosting, MemberChanged

# A constant for pg_advisory_xact_lock: "match" in ASCII.
LOCK_KEY = 0x6D61746368

LOCK = "SELECT pg_advisory_xact_lock($1)"
# With shards, each shard's member rows and index feed have a lock of their
# own (LOCK_KEY shifted left, plus the shard), so that shards score in
# parallel; LOCK_KEY itself then guards only the writes of matches (caps).
SHARD_LOCK_BASE = LOCK_KEY << 8

# --- members ---------------------------------------------------------------------------------

MEMBER_REVISION = "SELECT revision FROM matcher.members WHERE member_id = $1"
IS_ERASED = "SELECT EXISTS (SELECT 1 FROM matcher.erased_members WHERE member_id = $1)"
UPSERT_MEMBER = """
INSERT INTO matcher.members (member_id, revision, opted_in, profile, seq)
VALUES ($1, $2, $3, $4, nextval('matcher.member_seq'))
ON CONFLICT (member_id) DO UPDATE
SET revision = EXCLUDED.revision, opted_in = EXCLUDED.opted_in, profile = EXCLUDED.profile,
    seq = EXCLUDED.seq, updated_at = now()
"""
# UPSERT_MEMBER for many, in one statement: each row takes its seq in the
# order given (nextval is evaluated after the ORDER BY).
UPSERT_MEMBERS = """
INSERT INTO matcher.members (member_id, revision, opted_in, profile, seq)
SELECT m.member_id, m.revision, m.opted_in, m.profile::jsonb, nextval('matcher.member_seq')
FROM unnest($1::text[], $2::integer[], $3::boolean[], $4::text[]) WITH ORDINALITY
     AS m (member_id, revision, opted_in, profile, n)
ORDER BY m.n
ON CONFLICT (member_id) DO UPDATE
SET revision = EXCLUDED.revision, opted_in = EXCLUDED.opted_in, profile = EXCLUDED.profile,
    seq = EXCLUDED.seq, updated_at = now()
RETURNING member_id, seq
"""
ERASE_MEMBER = """
WITH gone AS (DELETE FROM matcher.members WHERE member_id = $1)
INSERT INTO matcher.erased_members (member_id, seq)
VALUES ($1, nextval('matcher.member_seq'))
ON CONFLICT (member_id) DO NOTHING
"""
# The profile of a row this process wrote itself (its seq is among $5) is not
# read back: the process holds it, decoded (``LiveIndex.written``).
MEMBERS_SINCE = """
SELECT member_id, opted_in, CASE WHEN seq = ANY($5::bigint[]) THEN NULL ELSE profile END AS profile,
       seq
FROM matcher.members
WHERE seq > $1 AND bucket % $4 = $3 ORDER BY seq LIMIT $2
"""
MEMBER_ROW = "SELECT member_id, opted_in, profile, seq FROM matcher.members WHERE member_id = $1"
ERASED_SINCE = """
SELECT member_id, seq FROM matcher.erased_members WHERE seq > $1 ORDER BY seq LIMIT $2
"""
MEMBER_REVISIONS = """
SELECT member_id, revision FROM matcher.members WHERE member_id = ANY($1::text[])
"""
ERASED_AMONG = "SELECT member_id FROM matcher.erased_members WHERE member_id = ANY($1::text[])"
ALL_MEMBERS = "SELECT profile FROM matcher.members ORDER BY member_id"

# --- postings --------------------------------------------------------------------------------

POSTING_STATE = "SELECT revision, state FROM matcher.postings WHERE posting_id = $1"
UPSERT_POSTING = """
INSERT INTO matcher.postings (posting_id, company_id, revision, state, posting)
VALUES ($1, $2, $3, 'open', $4)
ON CONFLICT (posting_id) DO UPDATE
SET revision = EXCLUDED.revision, posting = EXCLUDED.posting, updated_at = now()
WHERE matcher.postings.state = 'open' AND matcher.postings.revision < EXCLUDED.revision
"""
CLOSE_POSTING = """
INSERT INTO matcher.postings (posting_id, company_id, revision, state, closed_at)
VALUES ($1, $2, $3, 'closed', now())
ON CONFLICT (posting_id) DO UPDATE
SET state = 'closed', closed_at = coalesce(matcher.postings.closed_at, now()),
    revision = greatest(matcher.postings.revision, EXCLUDED.revision), updated_at = now()
"""
OPEN_POSTINGS = """
SELECT posting FROM matcher.postings WHERE state = 'open' AND posting IS NOT NULL
ORDER BY posting_id
"""

# --- matches ---------------------------------------------------------------------------------

MATCHES_OF_POSTING = """
SELECT match_id::text, posting_id, member_id, state, reason FROM matcher.matches
WHERE posting_id = $1
"""
MATCHES_OF_MEMBER = """
SELECT match_id::text, posting_id, member_id, state, reason FROM matcher.matches
WHERE member_id = $1
"""
MATCHES_OF_MEMBERS = """
SELECT match_id::text, posting_id, member_id, state, reason FROM matcher.matches
WHERE member_id = ANY($1::text[])
"""
INSERT_MATCH = """
INSERT INTO matcher.matches
    (match_id, posting_id, member_id, state, score, explanation, posting_revision)
VALUES ($1, $2, $3, 'active', $4, $5, $6)
"""
ACTIVATE_MATCH = """
UPDATE matcher.matches
SET state = 'active', reason = NULL, score = $2, explanation = $3, posting_revision = $4,
    updated_at = now()
WHERE match_id = $1
"""
WITHDRAW_MATCH = """
UPDATE matcher.matches SET state = 'withdrawn', reason = $2, updated_at = now()
WHERE match_id = $1
"""
DELETE_MEMBER_MATCHES = "DELETE FROM matcher.matches WHERE member_id = $1"
DELETE_MEMBER_CANDIDATES = "DELETE FROM matcher.shard_candidates WHERE member_id = $1"
RECENT_MATCHES_PER_MEMBER = """
SELECT member_id, count(*) AS n FROM matcher.matches
WHERE member_id = ANY($1::text[]) AND created_at > now() - make_interval(days => $2)
GROUP BY member_id
"""
ACTIVE_MATCHES_PER_POSTING = """
SELECT posting_id, count(*) AS n FROM matcher.matches
WHERE posting_id = ANY($1::text[]) AND state = 'active'
GROUP BY posting_id
"""
MATCHES_FOR_OPERATOR = """
SELECT match_id::text, posting_id, member_id, state, score, reason, explanation
FROM matcher.matches WHERE posting_id = $1 ORDER BY score DESC, member_id
"""

# --- shards ----------------------------------------------------------------------------------

SHARD_REVISION = """
SELECT max(revision) FROM matcher.shard_reports
WHERE posting_id = $1 AND shards = $2 AND shard = $3
"""
INSERT_REPORT = """
INSERT INTO matcher.shard_reports (posting_id, revision, shards, shard, candidates)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
"""
INSERT_CANDIDATE = """
INSERT INTO matcher.shard_candidates
    (posting_id, revision, shard, member_id, kind, score, explanation)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
"""
REPORTS = """
SELECT count(*) FROM matcher.shard_reports WHERE posting_id = $1 AND revision = $2 AND shards = $3
"""
MARK_MERGED = """
INSERT INTO matcher.shard_merges (posting_id, revision) VALUES ($1, $2)
ON CONFLICT DO NOTHING RETURNING posting_id
"""
CANDIDATES = """
SELECT member_id, kind, score, explanation FROM matcher.shard_candidates
WHERE posting_id = $1 AND revision = $2 ORDER BY score DESC, member_id
"""
DELETE_CANDIDATES = """
DELETE FROM matcher.shard_candidates WHERE posting_id = $1 AND revision <= $2
"""

# --- taxonomy --------------------------------------------------------------------------------

TAXONOMY_TITLES = """
SELECT role_id, family, source, language, title FROM matcher.taxonomy_titles
ORDER BY role_id, language, title
"""
CLEAR_TAXONOMY = "DELETE FROM matcher.taxonomy_titles"
INSERT_TAXONOMY_TITLE = """
INSERT INTO matcher.taxonomy_titles (role_id, family, source, language, title)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
"""
TAXONOMY_VERSION = "SELECT version FROM matcher.taxonomy_version"

# --- declines (declines.py) ------------------------------------------------------------------

POSTING = "SELECT posting FROM matcher.postings WHERE posting_id = $1 AND posting IS NOT NULL"
UPSERT_DECLINE = """
INSERT INTO matcher.declines
    (member_id, posting_id, reason, company_id, title_key, roles, place, level)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (member_id, posting_id) DO UPDATE
SET reason = EXCLUDED.reason, company_id = EXCLUDED.company_id,
    title_key = EXCLUDED.title_key, roles = EXCLUDED.roles, place = EXCLUDED.place,
    level = EXCLUDED.level, created_at = now()
"""
DECLINES_OF = """
SELECT member_id, posting_id, reason, company_id, title_key, roles, place, level
FROM matcher.declines WHERE member_id = ANY($1::text[])
"""
DELETE_DECLINES = "DELETE FROM matcher.declines WHERE member_id = $1"
ROLE_DECLINES = """
SELECT title_key, roles, count(DISTINCT member_id) AS members
FROM matcher.declines WHERE reason = 'role'
GROUP BY title_key, roles
"""
DECLINES_BY_REASON = "SELECT reason, count(*) AS n FROM matcher.declines GROUP BY reason"
BUMP_TAXONOMY_VERSION = "UPDATE matcher.taxonomy_version SET version = version + 1"


# --- typed functions -------------------------------------------------------------------------

MatchState = Literal["active", "withdrawn"]


@dataclasses.dataclass(frozen=True, slots=True)
class MatchRow:
    match_id: str
    posting_id: str
    member_id: str
    state: MatchState
    reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class MemberRow:
    member_id: str
    opted_in: bool
    # None when the stored profile no longer decodes; ``problem`` says why
    # (the error's class), and the index holds that member in quarantine.
    profile: MemberChanged | None
    seq: int
    problem: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TaxonomyTitle:
    role_id: str
    family: str
    source: str
    language: str
    title: str


def member_profile(member: MemberChanged) -> dict[str, Any]:
    """What the read model keeps of a member: everything but the sealed contact."""
    profile = member.to_json()
    profile.pop("sealed_contact", None)
    return profile


async def lock(conn: Connection) -> None:
    await conn.execute(LOCK, LOCK_KEY)


async def lock_shard(conn: Connection, shard: int) -> None:
    await conn.execute(LOCK, SHARD_LOCK_BASE + shard)


async def member_revision(conn: Connection, member_id: str) -> int | None:
    value = await conn.fetchval(MEMBER_REVISION, member_id)
    return None if value is None else int(value)


async def is_erased(conn: Connection, member_id: str) -> bool:
    return bool(await conn.fetchval(IS_ERASED, member_id))


async def upsert_member(conn: Connection, member: MemberChanged) -> None:
    await conn.execute(
        UPSERT_MEMBER, member.member_id, member.revision, member.opted_in, member_profile(member)
    )


async def member_revisions(conn: Connection, member_ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(MEMBER_REVISIONS, list(member_ids))
    return {r["member_id"]: int(r["revision"]) for r in rows}


async def erased_among(conn: Connection, member_ids: Sequence[str]) -> set[str]:
    return {r["member_id"] for r in await conn.fetch(ERASED_AMONG, list(member_ids))}


async def upsert_members(conn: Connection, members: Sequence[MemberChanged]) -> dict[str, int]:
    """``upsert_member`` for many (one per id), in one statement; each row
    takes its own ``seq``, in the order given. Returns each member's seq."""
    if not members:
        return {}
    rows = await conn.fetch(
        UPSERT_MEMBERS,
        [m.member_id for m in members],
        [m.revision for m in members],
        [m.opted_in for m in members],
        [_json_text(member_profile(m)) for m in members],
    )
    return {r["member_id"]: int(r["seq"]) for r in rows}


def _json_text(value: dict[str, Any]) -> str:
    # As the pool's codec writes a jsonb parameter (a text[] cast in the
    # statement does not go through it): orjson, else the standard library.
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


async def erase_member(conn: Connection, member_id: str) -> None:
    await conn.execute(ERASE_MEMBER, member_id)
    await conn.execute(DELETE_MEMBER_MATCHES, member_id)
    await conn.execute(DELETE_MEMBER_CANDIDATES, member_id)


async def members_since(
    conn: Connection,
    seq: int,
    limit: int,
    shard: int = 0,
    shards: int = 1,
    known: Mapping[str, tuple[int, MemberChanged]] | None = None,
) -> list[MemberRow]:
    """The feed of member rows after ``seq``: of one shard's buckets only.
    ``known``: members this process wrote, by member id, with the seq of the
    row it wrote; that very row (the same seq: no later write) is neither
    read back nor decoded again."""
    seqs = [s for s, _member in (known or {}).values()]
    rows = await conn.fetch(MEMBERS_SINCE, seq, limit, shard, shards, seqs)
    return [_member_row(r, known) for r in rows]


async def member_row(conn: Connection, member_id: str) -> MemberRow | None:
    row = await conn.fetchrow(MEMBER_ROW, member_id)
    return None if row is None else _member_row(row)


def _member_row(
    r: Record, known: Mapping[str, tuple[int, MemberChanged]] | None = None
) -> MemberRow:
    found = None if known is None else known.get(r["member_id"])
    if found is not None and found[0] == r["seq"]:
        return MemberRow(r["member_id"], r["opted_in"], found[1], r["seq"])
    try:
        profile = MemberChanged.from_json(r["profile"])
    except Exception as exc:  # one stored profile must not stop the whole index
        return MemberRow(r["member_id"], r["opted_in"], None, r["seq"], type(exc).__name__)
    return MemberRow(r["member_id"], r["opted_in"], profile, r["seq"])  # type: ignore[arg-type]


async def erased_since(conn: Connection, seq: int, limit: int) -> list[tuple[str, int]]:
    return [(r["member_id"], r["seq"]) for r in await conn.fetch(ERASED_SINCE, seq, limit)]


async def all_members(conn: Connection) -> list[MemberChanged]:
    return [
        MemberChanged.from_json(r["profile"])  # type: ignore[misc]
        for r in await conn.fetch(ALL_MEMBERS)
    ]


async def posting_state(conn: Connection, posting_id: str) -> tuple[int, str] | None:
    row = await conn.fetchrow(POSTING_STATE, posting_id)
    return None if row is None else (int(row["revision"]), str(row["state"]))


async def upsert_posting(conn: Connection, posting: JobPosting) -> None:
    await conn.execute(
        UPSERT_POSTING, posting.posting_id, posting.company_id, posting.revision, posting.to_json()
    )


async def close_posting(conn: Connection, posting_id: str, company_id: str, revision: int) -> None:
    await conn.execute(CLOSE_POSTING, posting_id, company_id, revision)


async def open_postings(conn: Connection) -> list[JobPosting]:
    return [
        JobPosting.from_json(r["posting"])  # type: ignore[misc]
        for r in await conn.fetch(OPEN_POSTINGS)
    ]


def _match_rows(rows: Iterable[Record]) -> list[MatchRow]:
    return [
        MatchRow(r["match_id"], r["posting_id"], r["member_id"], r["state"], r["reason"])
        for r in rows
    ]


async def matches_of_posting(conn: Connection, posting_id: str) -> list[MatchRow]:
    return _match_rows(await conn.fetch(MATCHES_OF_POSTING, posting_id))


async def matches_of_member(conn: Connection, member_id: str) -> list[MatchRow]:
    return _match_rows(await conn.fetch(MATCHES_OF_MEMBER, member_id))


async def matches_of_members(
    conn: Connection, member_ids: Sequence[str]
) -> dict[str, list[MatchRow]]:
    out: dict[str, list[MatchRow]] = {}
    for row in _match_rows(await conn.fetch(MATCHES_OF_MEMBERS, list(member_ids))):
        out.setdefault(row.member_id, []).append(row)
    return out


async def insert_match(
    conn: Connection,
    match_id: str,
    posting_id: str,
    member_id: str,
    score: float,
    explanation: Mapping[str, Any],
    posting_revision: int,
) -> None:
    await conn.execute(
        INSERT_MATCH, match_id, posting_id, member_id, score, explanation, posting_revision
    )


async def insert_matches(
    conn: Connection, rows: Sequence[tuple[str, str, str, float, Mapping[str, Any], int]]
) -> None:
    """``insert_match`` for several (match id, posting, member, score,
    explanation, revision), pipelined in one round trip."""
    if rows:
        await conn.executemany(INSERT_MATCH, rows)


async def activate_matches(
    conn: Connection, rows: Sequence[tuple[str, float, Mapping[str, Any], int]]
) -> None:
    """``activate_match`` for several (match id, score, explanation, revision)."""
    if rows:
        await conn.executemany(ACTIVATE_MATCH, rows)


async def activate_match(
    conn: Connection,
    match_id: str,
    score: float,
    explanation: Mapping[str, Any],
    posting_revision: int,
) -> None:
    await conn.execute(ACTIVATE_MATCH, match_id, score, explanation, posting_revision)


async def withdraw_match(conn: Connection, match_id: str, reason: str) -> None:
    await conn.execute(WITHDRAW_MATCH, match_id, reason)


async def recent_matches_per_member(
    conn: Connection, member_ids: Sequence[str], days: int
) -> dict[str, int]:
    if not member_ids:
        return {}
    rows = await conn.fetch(RECENT_MATCHES_PER_MEMBER, list(member_ids), days)
    return {r["member_id"]: int(r["n"]) for r in rows}


async def active_matches_per_posting(
    conn: Connection, posting_ids: Sequence[str]
) -> dict[str, int]:
    if not posting_ids:
        return {}
    rows = await conn.fetch(ACTIVE_MATCHES_PER_POSTING, list(posting_ids))
    return {r["posting_id"]: int(r["n"]) for r in rows}


CandidateKind = Literal["top", "kept", "dropped"]


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    member_id: str
    kind: CandidateKind
    score: float
    explanation: dict[str, Any]


async def shard_revision(conn: Connection, posting_id: str, shards: int, shard: int) -> int | None:
    """The highest revision of a posting this shard has reported."""
    value = await conn.fetchval(SHARD_REVISION, posting_id, shards, shard)
    return None if value is None else int(value)


async def report(
    conn: Connection,
    posting: JobPosting,
    shards: int,
    shard: int,
    candidates: int,
    proposed: Sequence[Candidate],
) -> None:
    await conn.executemany(
        INSERT_CANDIDATE,
        [(posting.posting_id, posting.revision, shard, *dataclasses.astuple(c)) for c in proposed],
    )
    await conn.execute(
        INSERT_REPORT, posting.posting_id, posting.revision, shards, shard, candidates
    )


async def reports(conn: Connection, posting_id: str, revision: int, shards: int) -> int:
    return int(await conn.fetchval(REPORTS, posting_id, revision, shards))


async def mark_merged(conn: Connection, posting_id: str, revision: int) -> bool:
    """True the first time only."""
    return await conn.fetchval(MARK_MERGED, posting_id, revision) is not None


async def candidates(conn: Connection, posting_id: str, revision: int) -> list[Candidate]:
    """Every shard's proposals for a posting revision, best first (ties by member id)."""
    return [
        Candidate(r["member_id"], r["kind"], float(r["score"]), dict(r["explanation"]))
        for r in await conn.fetch(CANDIDATES, posting_id, revision)
    ]


async def delete_candidates(conn: Connection, posting_id: str, revision: int) -> None:
    await conn.execute(DELETE_CANDIDATES, posting_id, revision)


async def taxonomy_titles(conn: Connection) -> list[TaxonomyTitle]:
    return [
        TaxonomyTitle(r["role_id"], r["family"], r["source"], r["language"], r["title"])
        for r in await conn.fetch(TAXONOMY_TITLES)
    ]


async def replace_taxonomy_titles(conn: Connection, titles: Iterable[TaxonomyTitle]) -> int:
    await conn.execute(CLEAR_TAXONOMY)
    rows = [(t.role_id, t.family, t.source, t.language, t.title) for t in titles]
    await conn.executemany(INSERT_TAXONOMY_TITLE, rows)
    await conn.execute(BUMP_TAXONOMY_VERSION)
    return len(rows)


async def taxonomy_version(conn: Connection) -> int:
    """Changes with every import (``replace_taxonomy_titles``), in its transaction."""
    return int(await conn.fetchval(TAXONOMY_VERSION))


# --- declines ---------------------------------------------------------------------------------


async def posting(conn: Connection, posting_id: str) -> JobPosting | None:
    """The posting as last received (open or closed), if the matcher has it."""
    value = await conn.fetchval(POSTING, posting_id)
    if value is None:
        return None
    found = JobPosting.from_json(value)
    assert isinstance(found, JobPosting)
    return found


async def upsert_decline(conn: Connection, member_id: str, d: Decline) -> None:
    await conn.execute(
        UPSERT_DECLINE,
        member_id,
        d.posting_id,
        d.reason,
        d.company_id,
        d.title_key,
        list(d.roles),
        d.place,
        d.level,
    )


async def declines_of(conn: Connection, member_ids: Sequence[str]) -> dict[str, list[Decline]]:
    out: dict[str, list[Decline]] = {}
    if not member_ids:
        return out
    for r in await conn.fetch(DECLINES_OF, list(member_ids)):
        out.setdefault(r["member_id"], []).append(
            Decline(
                r["posting_id"],
                r["reason"],
                r["company_id"],
                r["title_key"],
                tuple(r["roles"]),
                r["place"],
                r["level"],
            )
        )
    return out


async def delete_declines(conn: Connection, member_id: str) -> None:
    await conn.execute(DELETE_DECLINES, member_id)


async def role_declines(conn: Connection) -> list[RoleDeclines]:
    return [
        RoleDeclines(r["title_key"], tuple(r["roles"]), int(r["members"]))
        for r in await conn.fetch(ROLE_DECLINES)
    ]


async def declines_by_reason(conn: Connection) -> dict[str, int]:
    return {r["reason"]: int(r["n"]) for r in await conn.fetch(DECLINES_BY_REASON)}
