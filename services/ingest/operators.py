"""What operators do to ingest from the command line: onboard companies,
rotate their secrets, issue the platform's API tokens, import members
(the CSV rules are in ``member_csv``)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from services.ingest import member_csv, queries
from services.ingest.member_changes import republish, upsert_members
from services.ingest.member_csv import Rejected
from services.ingest.signing import new_secret
from services.ingest.views import token_hash
from shared import audit
from shared.db import Pool, transaction
from shared.sealing import derive_key, sealer_for
from shared.settings import Settings


def webhook_url(settings: Settings, company_id: uuid.UUID) -> str:
    return f"http://{settings.http_host}:{settings.ingest_port}/v1/hooks/{company_id}"


async def add_company(
    pool: Pool,
    settings: Settings,
    name: str,
    aliases: list[str],
    group: str | None,
    *,
    callback_url: str | None = None,
    contact_email: str | None = None,
) -> dict[str, Any]:
    """A new company and its webhook secret; with a delivery channel when given
    (``company add`` requires one: a referral must have somewhere to go)."""
    if callback_url is not None or contact_email is not None:
        check_channel(settings, callback_url, contact_email)
    secret = new_secret()
    delivery_secret = new_secret() if callback_url is not None else None
    sealer = sealer_for(settings.secret_keys)
    async with transaction(pool) as conn:
        company_id = await queries.insert_company(conn, name, aliases, group)
        await queries.add_secret(
            conn,
            company_id,
            sealer.seal({"secret": secret}),
            settings.secret_grace_hours,
        )
        await conn.execute(
            "UPDATE ingest.companies SET callback_url = $2, contact_email = $3,"
            " callback_secret_sealed = $4 WHERE id = $1",
            company_id,
            callback_url,
            contact_email,
            None if delivery_secret is None else sealer.seal({"secret": delivery_secret}),
        )
    return {
        "company_id": str(company_id),
        "name": name,
        "webhook_url": webhook_url(settings, company_id),
        "secret": secret,
        "callback_url": callback_url,
        "contact_email": contact_email,
        "delivery_secret": delivery_secret,
    }


async def rotate_secret(
    pool: Pool, settings: Settings, company_id: uuid.UUID
) -> dict[str, Any] | None:
    secret = new_secret()
    async with transaction(pool) as conn:
        company = await queries.company(conn, company_id)
        if company is None:
            return None
        await queries.add_secret(
            conn,
            company_id,
            sealer_for(settings.secret_keys).seal({"secret": secret}),
            settings.secret_grace_hours,
        )
    return {
        "company_id": str(company_id),
        "secret": secret,
        "previous_secrets_valid_for_hours": settings.secret_grace_hours,
    }


class BadCallback(ValueError):
    """A callback URL or contact address an operator typed is not usable."""


_EMAIL = re.compile(r"[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_channel(settings: Settings, url: str | None, contact_email: str | None) -> None:
    """Referrals carry names and emails: a callback must be https (plain http
    only to a loopback host, and only where PASSAPAROLA_LOOPBACK_HTTP_CALLBACKS
    says this is a development machine)."""
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise BadCallback("the callback URL must be an absolute https URL")
        if parts.scheme == "http" and not (
            settings.loopback_http_callbacks and parts.hostname in LOOPBACK_HOSTS
        ):
            raise BadCallback("the callback URL must be https (referrals carry names and emails)")
    if contact_email is not None and not _EMAIL.fullmatch(contact_email):
        raise BadCallback("the contact email is not a plain address")


async def set_callback(
    pool: Pool,
    settings: Settings,
    company_id: uuid.UUID,
    url: str | None,
    contact_email: str | None,
    *,
    new_delivery_secret: bool = False,
    clear_callback: bool = False,
) -> dict[str, Any] | None:
    """Where the company receives referrals. A callback URL gets a delivery
    secret of its own (returned only when it is new: shown once). Clearing
    the callback drops its secret too; it is refused when no contact email
    would be left (a referral must have somewhere to go)."""
    if clear_callback and url is not None:
        raise BadCallback("give a callback URL or clear it, not both")
    check_channel(settings, url, contact_email)
    async with transaction(pool) as conn:
        row = await conn.fetchrow(
            "SELECT callback_secret_sealed, contact_email FROM ingest.companies"
            " WHERE id = $1 FOR UPDATE",
            company_id,
        )
        if row is None:
            return None
        if clear_callback and (contact_email or row["contact_email"]) is None:
            raise BadCallback(
                "clearing the callback would leave no delivery channel: give --contact-email"
            )
        secret = None
        sealed = None if clear_callback else row["callback_secret_sealed"]
        if url is not None and (sealed is None or new_delivery_secret):
            secret = new_secret()
            sealed = sealer_for(settings.secret_keys).seal({"secret": secret})
        await conn.execute(
            "UPDATE ingest.companies SET callback_url = CASE WHEN $5 THEN NULL"
            " ELSE coalesce($2, callback_url) END,"
            " contact_email = coalesce($3, contact_email), callback_secret_sealed = $4"
            " WHERE id = $1",
            company_id,
            url,
            contact_email,
            sealed,
            clear_callback,
        )
        current = await conn.fetchrow(
            "SELECT callback_url, contact_email FROM ingest.companies WHERE id = $1", company_id
        )
    assert current is not None
    return {
        "company_id": str(company_id),
        "callback_url": current["callback_url"],
        "contact_email": current["contact_email"],
        "delivery_secret": secret,
    }


async def add_token(pool: Pool, label: str) -> dict[str, str]:
    token = "ppt_" + secrets.token_urlsafe(32)
    async with pool.acquire() as conn:
        token_id = await queries.insert_token(conn, label, token_hash(token))
    return {"token_id": str(token_id), "label": label, "token": token}


IMPORT_BATCH = 500


async def import_members(
    pool: Pool, settings: Settings, source: str | Iterable[str]
) -> tuple[int, list[Rejected]]:
    """Import the valid rows of a members CSV; the rejected ones, with every
    reason, are returned. Raises ``CsvProblem`` when the file as a whole is
    unusable (empty, a wrong header), before anything is written."""
    parsed = member_csv.parse(source if isinstance(source, str) else "\n".join(source))
    return await import_parsed(pool, settings, parsed)


async def import_parsed(
    pool: Pool, settings: Settings, parsed: member_csv.Parsed
) -> tuple[int, list[Rejected]]:
    sealer = sealer_for(settings.secret_keys)
    key = derive_key(settings.secret_key, "member-content/v1")
    # One commit per batch, not per row: a community of 100k members is one
    # fsync per IMPORT_BATCH rows. Rows are checked before, so a batch holds
    # only valid profiles.
    for start in range(0, len(parsed.members), IMPORT_BATCH):
        async with transaction(pool) as conn:
            await upsert_members(conn, sealer, key, parsed.members[start : start + IMPORT_BATCH])
    return len(parsed.members), parsed.rejected


async def republish_members(pool: Pool, settings: Settings, batch: int = IMPORT_BATCH) -> int:
    """``member.changed`` again for every member at its stored revision, a
    batch a transaction (an interrupted run is simply run again: an event
    told twice changes nothing). Returns how many members were told."""
    sealer = sealer_for(settings.secret_keys)
    told, after = 0, None
    while True:
        async with transaction(pool) as conn:
            count, after = await republish(conn, sealer, after, batch)
            if count:
                await audit.record(
                    conn, "ingest", actor=audit.operator(), action="members.republish",
                    details={"members": count},
                )  # fmt: skip
        told += count
        if after is None:
            return told
