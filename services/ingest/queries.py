"""Ingest's SQL: plain, parameterised, one thin typed function each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.postings import Current
from shared.db import Connection

# --- companies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    id: uuid.UUID
    name: str
    aliases: list[str]
    group_name: str | None
    disabled: bool
    sealed_secrets: list[str]

    @property
    def names(self) -> tuple[str, ...]:
        names = [self.name, *self.aliases]
        if self.group_name:
            names.append(self.group_name)
        return tuple(names)


async def insert_company(
    conn: Connection, name: str, aliases: list[str], group_name: str | None
) -> uuid.UUID:
    company_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO ingest.companies (id, name, aliases, group_name) VALUES ($1, $2, $3, $4)",
        company_id,
        name,
        aliases,
        group_name,
    )
    return company_id


async def add_secret(
    conn: Connection, company_id: uuid.UUID, sealed: str, grace_hours: int
) -> None:
    """A new secret; the ones before it keep working for the grace period."""
    await conn.execute(
        "UPDATE ingest.company_secrets SET expires_at = now() + make_interval(hours => $2)"
        " WHERE company_id = $1 AND (expires_at IS NULL OR expires_at > now()"
        " + make_interval(hours => $2))",
        company_id,
        grace_hours,
    )
    await conn.execute(
        "INSERT INTO ingest.company_secrets (company_id, sealed_secret) VALUES ($1, $2)",
        company_id,
        sealed,
    )


async def company(conn: Connection, company_id: uuid.UUID) -> Company | None:
    row = await conn.fetchrow(
        "SELECT c.id, c.name, c.aliases, c.group_name, c.disabled_at IS NOT NULL AS disabled,"
        " coalesce(array_agg(s.sealed_secret ORDER BY s.id DESC)"
        "   FILTER (WHERE s.id IS NOT NULL), '{}') AS secrets"
        " FROM ingest.companies c LEFT JOIN ingest.company_secrets s"
        "   ON s.company_id = c.id AND (s.expires_at IS NULL OR s.expires_at > now())"
        " WHERE c.id = $1 GROUP BY c.id",
        company_id,
    )
    if row is None:
        return None
    return Company(
        row["id"],
        row["name"],
        list(row["aliases"]),
        row["group_name"],
        row["disabled"],
        list(row["secrets"]),
    )


async def list_companies(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT c.id, c.name, c.aliases, c.group_name, c.disabled_at, c.created_at,"
        " (SELECT count(*) FROM ingest.postings p WHERE p.company_id = c.id"
        "   AND p.status = 'open') AS open_postings"
        " FROM ingest.companies c ORDER BY c.created_at"
    )
    return [dict(row) for row in rows]


async def disable_company(conn: Connection, company_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE ingest.companies SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL",
        company_id,
    )
    return bool(status.endswith(" 1"))


# --- webhook deliveries (idempotency) -----------------------------------------------------


async def record_delivery(
    conn: Connection, company_id: uuid.UUID, webhook_id: str, status: int, response: dict[str, Any]
) -> bool:
    """Remember this delivery's answer; False if the id was already delivered
    (a concurrent twin waits here until the first one's transaction ends)."""
    recorded = await conn.fetchval(
        "INSERT INTO ingest.webhook_deliveries (company_id, webhook_id, status, response)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        company_id,
        webhook_id,
        status,
        response,
    )
    return bool(recorded)


async def stored_response(
    conn: Connection, company_id: uuid.UUID, webhook_id: str
) -> tuple[int, dict[str, Any]] | None:
    row = await conn.fetchrow(
        "SELECT status, response FROM ingest.webhook_deliveries"
        " WHERE company_id = $1 AND webhook_id = $2",
        company_id,
        webhook_id,
    )
    if row is None or row["status"] is None:
        return None
    return row["status"], row["response"]


# --- postings -----------------------------------------------------------------------------


async def lock_posting(
    conn: Connection, company_id: uuid.UUID, external_id: str
) -> tuple[uuid.UUID, Current] | None:
    row = await conn.fetchrow(
        "SELECT id, revision, status, data, source_time FROM ingest.postings"
        " WHERE company_id = $1 AND external_id = $2 FOR UPDATE",
        company_id,
        external_id,
    )
    if row is None:
        return None
    return row["id"], Current(row["revision"], row["status"], row["data"], row["source_time"])


async def insert_posting(
    conn: Connection,
    company_id: uuid.UUID,
    external_id: str,
    status: str,
    data: dict[str, Any],
    source_time: datetime,
) -> uuid.UUID | None:
    """None when a concurrent delivery created it first (then lock and decide again)."""
    posting_id = uuid.uuid4()
    inserted = await conn.fetchval(
        "INSERT INTO ingest.postings (id, company_id, external_id, revision, status, data,"
        " source_time, closed_at) VALUES ($1, $2, $3, 1, $4, $5, $6,"
        " CASE WHEN $4 = 'closed' THEN now() END)"
        " ON CONFLICT (company_id, external_id) DO NOTHING RETURNING id",
        posting_id,
        company_id,
        external_id,
        status,
        data,
        source_time,
    )
    return posting_id if inserted else None


async def update_posting(
    conn: Connection,
    posting_id: uuid.UUID,
    revision: int,
    status: str,
    data: dict[str, Any],
    source_time: datetime,
) -> None:
    await conn.execute(
        "UPDATE ingest.postings SET revision = $2, status = $3, data = $4, source_time = $5,"
        " updated_at = now(), closed_at = CASE WHEN $3 = 'closed' THEN now() END"
        " WHERE id = $1",
        posting_id,
        revision,
        status,
        data,
        source_time,
    )


async def touch_posting_time(
    conn: Connection, posting_id: uuid.UUID, source_time: datetime
) -> None:
    await conn.execute(
        "UPDATE ingest.postings SET source_time = greatest(source_time, $2) WHERE id = $1",
        posting_id,
        source_time,
    )


# --- API tokens ---------------------------------------------------------------------------


async def insert_token(conn: Connection, label: str, token_hash: bytes) -> uuid.UUID:
    token_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO ingest.api_tokens (id, label, token_hash) VALUES ($1, $2, $3)",
        token_id,
        label,
        token_hash,
    )
    return token_id


async def token_valid(conn: Connection, token_hash: bytes) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM ingest.api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
        )
    )


async def revoke_token(conn: Connection, token_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE ingest.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return bool(status.endswith(" 1"))


# --- members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMember:
    id: uuid.UUID
    revision: int
    content_hash: bytes
    opted_in: bool


async def lock_member(conn: Connection, external_id: str) -> StoredMember | None:
    row = await conn.fetchrow(
        "SELECT id, revision, content_hash, opted_in FROM ingest.members"
        " WHERE external_id = $1 FOR UPDATE",
        external_id,
    )
    if row is None:
        return None
    return StoredMember(row["id"], row["revision"], bytes(row["content_hash"]), row["opted_in"])


async def insert_member(
    conn: Connection,
    external_id: str,
    opted_in: bool,
    profile: dict[str, Any],
    sealed_contact: str,
    content_hash: bytes,
) -> uuid.UUID | None:
    member_id = uuid.uuid4()
    inserted = await conn.fetchval(
        "INSERT INTO ingest.members (id, external_id, revision, opted_in, profile,"
        " sealed_contact, content_hash) VALUES ($1, $2, 1, $3, $4, $5, $6)"
        " ON CONFLICT (external_id) DO NOTHING RETURNING id",
        member_id,
        external_id,
        opted_in,
        profile,
        sealed_contact,
        content_hash,
    )
    return member_id if inserted else None


async def update_member(
    conn: Connection,
    member_id: uuid.UUID,
    revision: int,
    opted_in: bool,
    profile: dict[str, Any],
    sealed_contact: str,
    content_hash: bytes,
) -> None:
    await conn.execute(
        "UPDATE ingest.members SET revision = $2, opted_in = $3, profile = $4,"
        " sealed_contact = $5, content_hash = $6, updated_at = now() WHERE id = $1",
        member_id,
        revision,
        opted_in,
        profile,
        sealed_contact,
        content_hash,
    )


async def add_consent(
    conn: Connection,
    member_id: uuid.UUID,
    opted_in: bool,
    consented_at: datetime,
    text_version: str,
) -> None:
    await conn.execute(
        "INSERT INTO ingest.member_consents (member_id, opted_in, consented_at, text_version)"
        " VALUES ($1, $2, $3, $4)",
        member_id,
        opted_in,
        consented_at,
        text_version,
    )


async def lock_members(conn: Connection, external_ids: Sequence[str]) -> dict[str, StoredMember]:
    """``lock_member`` for many, in one statement; locked in the order of
    their external ids (two imports lock the same rows in the same order)."""
    rows = await conn.fetch(
        "SELECT id, external_id, revision, content_hash, opted_in FROM ingest.members"
        " WHERE external_id = ANY($1::text[]) ORDER BY external_id FOR UPDATE",
        list(external_ids),
    )
    return {
        r["external_id"]: StoredMember(
            r["id"], r["revision"], bytes(r["content_hash"]), r["opted_in"]
        )
        for r in rows
    }


@dataclass(frozen=True)
class NewMember:
    """A member row about to be written (inserted at revision 1, else updated)."""

    id: uuid.UUID
    external_id: str
    revision: int
    opted_in: bool
    profile: dict[str, Any]
    sealed_contact: str
    content_hash: bytes


async def insert_members(conn: Connection, members: Sequence[NewMember]) -> set[str]:
    """``insert_member`` for many, in one statement: the external ids
    inserted (one missing was created concurrently)."""
    if not members:
        return set()
    rows = await conn.fetch(
        "INSERT INTO ingest.members (id, external_id, revision, opted_in, profile,"
        " sealed_contact, content_hash)"
        " SELECT m.id, m.external_id, 1, m.opted_in, m.profile::jsonb, m.sealed_contact,"
        " m.content_hash FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::text[],"
        " $5::text[], $6::bytea[])"
        " AS m (id, external_id, opted_in, profile, sealed_contact, content_hash)"
        " ON CONFLICT (external_id) DO NOTHING RETURNING external_id",
        *_member_columns(members),
    )
    return {r["external_id"] for r in rows}


async def update_members(conn: Connection, members: Sequence[NewMember]) -> None:
    """``update_member`` for many (rows locked by the caller), in one statement."""
    if not members:
        return
    await conn.execute(
        "UPDATE ingest.members AS t SET revision = m.revision, opted_in = m.opted_in,"
        " profile = m.profile::jsonb, sealed_contact = m.sealed_contact,"
        " content_hash = m.content_hash, updated_at = now()"
        " FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::text[], $5::text[],"
        " $6::bytea[], $7::integer[])"
        " AS m (id, external_id, opted_in, profile, sealed_contact, content_hash, revision)"
        " WHERE t.id = m.id",
        *_member_columns(members),
        [m.revision for m in members],
    )


def _member_columns(members: Sequence[NewMember]) -> tuple[list[Any], ...]:
    # Profiles as JSON text, cast in the statement: an array of jsonb would
    # not go through the pool's codec.
    return (
        [m.id for m in members],
        [m.external_id for m in members],
        [m.opted_in for m in members],
        [json.dumps(m.profile) for m in members],
        [m.sealed_contact for m in members],
        [m.content_hash for m in members],
    )


async def add_consents(
    conn: Connection, consents: Sequence[tuple[uuid.UUID, bool, datetime, str]]
) -> None:
    """``add_consent`` for many, in one statement: (member id, opted in, at, text version)."""
    if not consents:
        return
    await conn.execute(
        "INSERT INTO ingest.member_consents (member_id, opted_in, consented_at, text_version)"
        " SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::timestamptz[], $4::text[])",
        *(list(column) for column in zip(*consents, strict=True)),
    )


@dataclass(frozen=True)
class CurrentMember:
    """A member's stored revision, as ``member.changed`` last told it."""

    id: uuid.UUID
    revision: int
    opted_in: bool
    profile: dict[str, Any]
    sealed_contact: str


async def members_after(
    conn: Connection, after: uuid.UUID | None, limit: int
) -> list[CurrentMember]:
    """The next ``limit`` members by id after ``after`` (keyset paging: a
    page costs the same at the end of a large table as at its start)."""
    rows = await conn.fetch(
        "SELECT id, revision, opted_in, profile, sealed_contact FROM ingest.members"
        " WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [
        CurrentMember(r["id"], r["revision"], r["opted_in"], r["profile"], r["sealed_contact"])
        for r in rows
    ]


async def delete_member(conn: Connection, external_id: str) -> uuid.UUID | None:
    member_id: uuid.UUID | None = await conn.fetchval(
        "DELETE FROM ingest.members WHERE external_id = $1 RETURNING id", external_id
    )
    return member_id
