"""A member's "not for me", recorded for the notifier and told to the matcher.

The notifier keeps the feedback (it stops further emails about the posting);
the matcher learns from the reason (``member.declined``), in the same
transaction through the outbox, so the two never disagree on whether it
happened. The event carries ids and the reason's code only.
"""

from __future__ import annotations

from typing import Any, Literal

from services.notifier import queries
from shared.db import Connection
from shared.events import Envelope, MemberDeclined
from shared.outbox import enqueue

SCHEMA = "notifier"
SOURCE = "/notifier/links"

Reason = Literal["role", "place", "level", "company", "timing", "other", "none"]
REASONS: tuple[Reason, ...] = ("role", "place", "level", "company", "timing", "other", "none")


async def not_for_me(conn: Connection, n: Any, reason: str) -> None:
    """Record a "not for me" on notification ``n`` and tell the matcher."""
    code: Reason = "none"
    for known in REASONS:  # the form's value, as the event's type
        if reason == known:
            code = known
    await queries.record_not_for_me(conn, n, code)
    event = MemberDeclined(member_id=n["member_id"], posting_id=n["posting_id"], reason=code)
    await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
