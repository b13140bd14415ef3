"""The SQL that only the consumer's planning (``instant.py``) needs: the due
notifications of a batch's members, locked. The other reads and writes of a
batch are the digest planner's (``queries.py``, ``*_many``). Plain,
parameterised, notifier schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.notifier.planning import Pending
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
