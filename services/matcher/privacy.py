"""The matcher's share of members' privacy rights, on its own tables only:
its part of a data export (``export.part``, sealed) and retention. (Erasure
is ``handlers.on_member_erased``; the matcher stores nothing sealed.)"""

from __future__ import annotations

import json
from typing import Any

from shared.consumer import Handler
from shared.db import Connection
from shared.events import Envelope, ExportPart, MemberExportRequested
from shared.outbox import enqueue
from shared.retention import deleted
from shared.sealing import sealer_for
from shared.settings import Settings

SCHEMA = "matcher"
SOURCE = "/matcher/privacy"


async def export_part(conn: Connection, member_id: str) -> dict[str, Any]:
    member = await conn.fetchrow(
        "SELECT revision, opted_in, profile, updated_at FROM matcher.members WHERE member_id = $1",
        member_id,
    )
    matches = await conn.fetch(
        "SELECT match_id, posting_id, state, score, explanation, posting_revision, reason,"
        " created_at, updated_at FROM matcher.matches WHERE member_id = $1 ORDER BY created_at",
        member_id,
    )
    # What they said "not for me" to, and what the matcher keeps of it.
    declines = await conn.fetch(
        "SELECT posting_id, reason, title_key, roles, place, level, created_at"
        " FROM matcher.declines WHERE member_id = $1 ORDER BY created_at",
        member_id,
    )
    document = {
        "matching_profile": dict(member) if member is not None else None,
        "matches": [dict(m) for m in matches],
        "not_for_me": [dict(d) for d in declines],
    }
    result: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return result


def make_export_handler(settings: Settings) -> Handler:
    sealer = sealer_for(settings.secret_keys)

    async def on_export_requested(event: Envelope, conn: Connection) -> None:
        request = event.payload(MemberExportRequested)
        data = await export_part(conn, request.member_id)
        part = ExportPart(
            export_id=request.export_id,
            member_id=request.member_id,
            service=SCHEMA,
            sealed_data=sealer.seal(data),
        )
        await enqueue(conn, SCHEMA, Envelope.wrap(part, source=SOURCE))

    return on_export_requested


async def purge(conn: Connection, settings: Settings) -> dict[str, int]:
    closed_days = settings.retention_closed_postings_days
    counts = {
        "matches": deleted(
            await conn.execute(
                "DELETE FROM matcher.matches m WHERE m.created_at < now()"
                " - make_interval(days => $1) AND (m.state = 'withdrawn' OR NOT EXISTS ("
                " SELECT 1 FROM matcher.postings p WHERE p.posting_id = m.posting_id"
                " AND p.state = 'open'))",
                settings.retention_matches_days,
            )
        ),
    }
    counts["closed_posting_matches"] = deleted(
        await conn.execute(
            "DELETE FROM matcher.matches m USING matcher.postings p"
            " WHERE p.posting_id = m.posting_id AND p.state = 'closed'"
            " AND p.closed_at < now() - make_interval(days => $1)",
            closed_days,
        )
    )
    counts["postings"] = deleted(
        await conn.execute(
            "DELETE FROM matcher.postings WHERE state = 'closed'"
            " AND closed_at < now() - make_interval(days => $1)",
            closed_days,
        )
    )
    # The shards' bookkeeping of postings that are gone (docs/scaling.md).
    for table in ("shard_reports", "shard_merges", "shard_candidates"):
        counts[table] = deleted(
            await conn.execute(
                f"DELETE FROM matcher.{table} r WHERE NOT EXISTS ("  # noqa: S608 - our table names
                " SELECT 1 FROM matcher.postings p WHERE p.posting_id = r.posting_id)"
            )
        )
    return counts
