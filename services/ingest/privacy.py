"""Members' privacy rights as ingest serves them: export, erasure, key
rotation and retention of ingest's own tables.

Export respects the services' boundaries: ingest, which the community's
platform and the operators talk to, publishes ``member.export_requested``;
each service that holds data about members (matcher, notifier) reads its own
tables and answers with ``export.part``, its share sealed; ingest stores the
parts and, once every expected service has answered, assembles the export
with its own share (profile, contact, consent history, referrals). Nobody
reads another service's schema, and nothing personal crosses the broker in
clear.

Erasure: ``member.erased`` (published in the transaction that deletes the
member here) makes every service forget the member; here the member row and
consent history go, pending referrals are cancelled, delivered ones keep only
ids, the member's old events in the outbox are deleted, and a per-day count
is all that remains.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from typing import Any

from shared import audit
from shared.db import Connection, Pool
from shared.events import Envelope, ExportPart, MemberExportRequested
from shared.outbox import enqueue
from shared.retention import deleted
from shared.sealing import Sealer, SealError, reseal_column
from shared.settings import Settings

SCHEMA = "ingest"
SOURCE = "/ingest/privacy"
# The services that answer an export request with their part.
EXPORT_PARTS = ("matcher", "notifier")
# Columns holding sealed values, for `passaparola keys rotate`: (table, key, column).
SEALED_COLUMNS = (
    ("ingest.members", "id", "sealed_contact"),
    ("ingest.company_secrets", "id", "sealed_secret"),
    ("ingest.companies", "id", "callback_secret_sealed"),
    ("ingest.referrals", "referral_id", "sealed_referral"),
    ("ingest.export_parts", "export_id::text || service", "sealed_data"),
)


class UnknownMember(LookupError):
    pass


class UnknownExport(Exception):
    """No such export: never requested, already read, expired or erased."""


# --- export -----------------------------------------------------------------------------------


async def request_export(conn: Connection, external_id: str, requested_by: str) -> uuid.UUID:
    """Start an export (in the caller's transaction); UnknownMember if none."""
    member_id = await conn.fetchval(
        "SELECT id FROM ingest.members WHERE external_id = $1", external_id
    )
    if member_id is None:
        raise UnknownMember(external_id)
    export_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO ingest.exports (export_id, member_id, requested_by) VALUES ($1, $2, $3)",
        export_id,
        member_id,
        requested_by,
    )
    event = MemberExportRequested(export_id=str(export_id), member_id=str(member_id))
    await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
    return export_id


async def on_export_part(event: Envelope, conn: Connection) -> None:
    part = event.payload(ExportPart)
    try:
        export_id = uuid.UUID(part.export_id)
    except ValueError:
        return
    await conn.execute(
        "INSERT INTO ingest.export_parts (export_id, service, sealed_data)"
        " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM ingest.exports WHERE export_id = $1)"
        " ON CONFLICT DO NOTHING",
        export_id,
        part.service,
        part.sealed_data,
    )


async def export_status(
    conn: Connection, export_id: uuid.UUID, sealer: Sealer
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the export, []) when complete; (None, missing services) while waiting;
    UnknownExport when there is no such export (or the member was erased)."""
    export = await conn.fetchrow(
        "SELECT member_id, requested_at FROM ingest.exports WHERE export_id = $1", export_id
    )
    if export is None:
        raise UnknownExport(str(export_id))
    rows = await conn.fetch(
        "SELECT service, sealed_data FROM ingest.export_parts WHERE export_id = $1", export_id
    )
    parts = {r["service"]: r["sealed_data"] for r in rows}
    missing = [s for s in EXPORT_PARTS if s not in parts]
    if missing:
        return None, missing
    own = await ingest_part(conn, export["member_id"], sealer)
    if own is None:
        raise UnknownExport(str(export_id))
    document: dict[str, Any] = {
        "export_id": str(export_id),
        "generated_at": export["requested_at"].isoformat(timespec="seconds"),
        "member_id": str(export["member_id"]),
        "ingest": own,
    }
    for service in EXPORT_PARTS:
        try:
            document[service] = sealer.open(parts[service])
        except SealError:
            document[service] = {"error": "this part could not be opened"}
    return document, []


async def ingest_part(conn: Connection, member_id: uuid.UUID, sealer: Sealer) -> Any:
    member = await conn.fetchrow(
        "SELECT id, external_id, revision, opted_in, profile, sealed_contact, created_at,"
        " updated_at FROM ingest.members WHERE id = $1",
        member_id,
    )
    if member is None:
        return None
    try:
        contact = sealer.open(member["sealed_contact"])
    except SealError:
        contact = {"error": "could not be opened"}
    consents = await conn.fetch(
        "SELECT opted_in, consented_at, text_version, recorded_at FROM ingest.member_consents"
        " WHERE member_id = $1 ORDER BY id",
        member_id,
    )
    referrals = await conn.fetch(
        "SELECT referral_id, posting_id, company_id, state, channel, attempts, requested_at,"
        " settled_at, consented_at, sealed_referral FROM ingest.referrals"
        " WHERE member_id = $1 ORDER BY requested_at",
        member_id,
    )
    out_referrals = []
    for r in referrals:
        item = {k: v for k, v in dict(r).items() if k != "sealed_referral"}
        if r["sealed_referral"]:
            try:
                item["to_be_sent"] = sealer.open(r["sealed_referral"])
            except SealError:
                item["to_be_sent"] = {"error": "could not be opened"}
        out_referrals.append(item)
    return json.loads(
        json.dumps(
            {
                "profile": {
                    "member_id": str(member["id"]),
                    "external_id": member["external_id"],
                    "revision": member["revision"],
                    "opted_in": member["opted_in"],
                    "contact": contact,
                    **member["profile"],
                    "created_at": member["created_at"],
                    "updated_at": member["updated_at"],
                },
                "consent_history": [dict(c) for c in consents],
                "referrals": out_referrals,
            },
            default=str,
        )
    )


async def wait_for_export(
    pool: Pool, export_id: uuid.UUID, sealer: Sealer, wait_s: float
) -> tuple[dict[str, Any] | None, list[str]]:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        async with pool.acquire() as conn:
            document, missing = await export_status(conn, export_id, sealer)
        if document is not None or asyncio.get_running_loop().time() > deadline:
            return document, missing
        await asyncio.sleep(0.2)


async def finish_export(conn: Connection, export_id: uuid.UUID, actor: str, subject: str) -> None:
    """The export was handed over: audit it and drop the parts (they were copies)."""
    await audit.record(
        conn, SCHEMA, actor=actor, action="member.export", subject=subject,
        details={"export_id": str(export_id)},
    )  # fmt: skip
    await conn.execute("DELETE FROM ingest.exports WHERE export_id = $1", export_id)


# --- erasure ----------------------------------------------------------------------------------


async def forget(conn: Connection, member_id: uuid.UUID) -> None:
    """Ingest's share of an erasure, in the transaction that deletes the member."""
    # Pending or failed referrals are cancelled; all keep only their ids.
    await conn.execute(
        "UPDATE ingest.referrals SET state = CASE WHEN state IN ('pending', 'failed')"
        " THEN 'cancelled' ELSE state END, reason = CASE WHEN state IN ('pending', 'failed')"
        " THEN 'member erased' ELSE reason END, sealed_referral = NULL, member_id = NULL,"
        " settled_at = coalesce(settled_at, now()), updated_at = now() WHERE member_id = $1",
        member_id,
    )
    await conn.execute("DELETE FROM ingest.exports WHERE member_id = $1", member_id)
    # The member's earlier events still in the outbox (published ones are kept
    # a day) carry the pseudonymous profile: they go too.
    await conn.execute(
        "DELETE FROM ingest.outbox WHERE routing_key LIKE 'member.%'"
        " AND position(convert_to($1, 'UTF8') IN body) > 0",
        f'"member_id":"{member_id}"',
    )
    await conn.execute(
        "INSERT INTO ingest.erasure_counts AS e (day, erased) VALUES ($1, 1)"
        " ON CONFLICT (day) DO UPDATE SET erased = e.erased + 1",
        date.today(),
    )


# --- keys -----------------------------------------------------------------------------------


async def reseal(conn: Connection, sealer: Sealer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, key, column in SEALED_COLUMNS:
        counts[f"{table}.{column}"] = await reseal_column(conn, table, key, column, sealer)
    return counts


# --- retention --------------------------------------------------------------------------------


async def purge(conn: Connection, settings: Settings) -> dict[str, int]:
    logs_days = settings.retention_delivery_logs_days
    return {
        "postings": deleted(
            await conn.execute(
                "DELETE FROM ingest.postings WHERE status = 'closed'"
                " AND closed_at < now() - make_interval(days => $1)",
                settings.retention_closed_postings_days,
            )
        ),
        "webhook_deliveries": deleted(
            await conn.execute(
                "DELETE FROM ingest.webhook_deliveries"
                " WHERE received_at < now() - make_interval(days => $1)",
                logs_days,
            )
        ),
        "referral_attempts": deleted(
            await conn.execute(
                "DELETE FROM ingest.referral_attempts"
                " WHERE attempted_at < now() - make_interval(days => $1)",
                logs_days,
            )
        ),
        "referrals": deleted(
            await conn.execute(
                "DELETE FROM ingest.referrals WHERE state <> 'pending'"
                " AND updated_at < now() - make_interval(days => $1)",
                logs_days,
            )
        ),
        "exports": deleted(
            await conn.execute(
                "DELETE FROM ingest.exports WHERE requested_at < now() - interval '1 day'"
            )
        ),
    }
