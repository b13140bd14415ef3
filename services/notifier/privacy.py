"""The notifier's share of members' privacy rights, on its own tables only:
its part of a data export (``export.part``, sealed), erasure, re-sealing
after a key rotation, and retention."""

from __future__ import annotations

import json
from typing import Any

from shared.db import Connection
from shared.events import Envelope, ExportPart, MemberErased, MemberExportRequested
from shared.outbox import enqueue
from shared.retention import deleted
from shared.sealing import Sealer, SealError, reseal_column, sealer_for
from shared.settings import Settings

SCHEMA = "notifier"
SOURCE = "/notifier/privacy"
SEALED_COLUMNS = (
    ("notifier.members", "member_id", "sealed_contact"),
    ("notifier.referrals", "referral_id", "sealed_referral"),
    ("notifier.forwards", "id", "sealed_send"),
)


def _open(sealer: Sealer, value: str | None) -> Any:
    if not value:
        return None
    try:
        return sealer.open(value)
    except SealError:
        return {"error": "could not be opened"}


async def export_part(conn: Connection, member_id: str, sealer: Sealer) -> dict[str, Any]:
    member = await conn.fetchrow("SELECT * FROM notifier.members WHERE member_id = $1", member_id)
    preferences = None
    if member is not None:
        preferences = {k: v for k, v in dict(member).items() if k != "sealed_contact"}
        preferences["contact"] = _open(sealer, member["sealed_contact"])
    notifications = await conn.fetch(
        "SELECT id, match_id, posting_id, title, company_name, city, score, explanation, state,"
        " reason, due_at, created_at, updated_at FROM notifier.notifications"
        " WHERE member_id = $1 ORDER BY created_at",
        member_id,
    )
    emails = await conn.fetch(
        "SELECT id, kind, state, attempts, created_at, sent_at FROM notifier.emails"
        " WHERE member_id = $1 ORDER BY created_at",
        member_id,
    )
    feedback = await conn.fetch(
        "SELECT posting_id, reason, created_at FROM notifier.feedback WHERE member_id = $1",
        member_id,
    )
    referrals = await conn.fetch(
        "SELECT * FROM notifier.referrals WHERE member_id = $1 ORDER BY requested_at", member_id
    )
    forwards = await conn.fetch(
        "SELECT id, posting_id, state, created_at, sent_at FROM notifier.forwards"
        " WHERE member_id = $1 ORDER BY created_at",
        member_id,
    )
    document = {
        "preferences": preferences,
        "notifications": [dict(n) for n in notifications],
        "emails": [dict(e) for e in emails],
        "not_for_me": [dict(f) for f in feedback],
        "referrals": [
            {
                **{k: v for k, v in dict(r).items() if k != "sealed_referral"},
                "to_be_sent": _open(sealer, r["sealed_referral"]),
            }
            for r in referrals
        ],
        "forwards": [{**dict(f), "colleague": "not kept (only a keyed hash)"} for f in forwards],
    }
    result: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return result


def make_export_handler(settings: Settings) -> Any:
    sealer = sealer_for(settings.secret_keys)

    async def on_export_requested(event: Envelope, conn: Connection) -> None:
        request = event.payload(MemberExportRequested)
        data = await export_part(conn, request.member_id, sealer)
        part = ExportPart(
            export_id=request.export_id,
            member_id=request.member_id,
            service=SCHEMA,
            sealed_data=sealer.seal(data),
        )
        await enqueue(conn, SCHEMA, Envelope.wrap(part, source=SOURCE))

    return on_export_requested


async def forget(conn: Connection, member_id: str) -> None:
    """What ``queries.erase_member`` leaves: notifications, emails, referrals
    and their confirmations, forwards and this member's events still in the
    outbox (a profile edit not yet published included). A pending referral
    is cancelled at ingest by the same member.erased event."""
    await conn.execute("DELETE FROM notifier.referrals WHERE member_id = $1", member_id)
    await conn.execute(
        "DELETE FROM notifier.referral_confirmations WHERE member_id = $1", member_id
    )
    # The colleague's opt-out and the hash stay (they are the colleague's);
    # the link to the member goes.
    await conn.execute(
        "UPDATE notifier.forwards SET member_id = NULL, sealed_send = NULL,"
        " reason = CASE WHEN state IN ('pending', 'failed') THEN 'member erased' ELSE reason END,"
        " state = CASE WHEN state IN ('pending', 'failed') THEN 'cancelled' ELSE state END"
        " WHERE member_id = $1",
        member_id,
    )
    await conn.execute("DELETE FROM notifier.notifications WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM notifier.emails WHERE member_id = $1", member_id)
    await conn.execute(
        "DELETE FROM notifier.outbox WHERE (routing_key LIKE 'referral.%'"
        " OR routing_key IN ('export.part', 'profile.edited'))"
        " AND position(convert_to($1, 'UTF8') IN body) > 0",
        f'"member_id":"{member_id}"',
    )


async def on_member_erased(event: Envelope, conn: Connection) -> None:
    await forget(conn, event.payload(MemberErased).member_id)


async def reseal(conn: Connection, sealer: Sealer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, key, column in SEALED_COLUMNS:
        counts[f"{table}.{column}"] = await reseal_column(conn, table, key, column, sealer)
    return counts


async def purge(conn: Connection, settings: Settings) -> dict[str, int]:
    closed_days = settings.retention_closed_postings_days
    matches_days = settings.retention_matches_days
    logs_days = settings.retention_delivery_logs_days
    counts: dict[str, int] = {}
    counts["notifications"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.notifications n WHERE n.state NOT IN ('pending', 'sending')"
            " AND (n.created_at < now() - make_interval(days => $1)"
            "  OR EXISTS (SELECT 1 FROM notifier.postings p WHERE p.posting_id = n.posting_id"
            "   AND NOT p.open AND p.closed_at < now() - make_interval(days => $2)))",
            matches_days,
            closed_days,
        )
    )
    counts["postings"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.postings WHERE NOT open"
            " AND closed_at < now() - make_interval(days => $1)",
            closed_days,
        )
    )
    counts["withdrawn_matches"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.withdrawn_matches"
            " WHERE withdrawn_at < now() - make_interval(days => $1)",
            matches_days,
        )
    )
    await conn.execute(
        "UPDATE notifier.notifications SET email_id = NULL WHERE email_id IN ("
        " SELECT id FROM notifier.emails WHERE state <> 'sending'"
        " AND created_at < now() - make_interval(days => $1))",
        logs_days,
    )
    counts["emails"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.emails WHERE state <> 'sending'"
            " AND created_at < now() - make_interval(days => $1)",
            logs_days,
        )
    )
    counts["forwards"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.forwards WHERE state <> 'pending'"
            " AND created_at < now() - make_interval(days => $1)",
            logs_days,
        )
    )
    counts["referral_confirmations"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.referral_confirmations WHERE state <> 'pending'"
            " AND created_at < now() - make_interval(days => $1)",
            logs_days,
        )
    )
    counts["referrals"] = deleted(
        await conn.execute(
            "DELETE FROM notifier.referrals WHERE state NOT IN ('requested')"
            " AND updated_at < now() - make_interval(days => $1)",
            logs_days,
        )
    )
    return counts
