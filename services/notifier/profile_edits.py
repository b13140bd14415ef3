"""A member's edit of their matching profile, from the preference page,
handed to the profile's owner.

Ingest owns the profile: the edit goes to it as ``profile.edited`` through
the notifier's outbox (in the same transaction as the page's own copy, so
the two never disagree on whether it happened), sealed, because a blocked
company can name the member's employer. Ingest applies it and re-publishes
the profile as ``member.changed`` with the next revision, which reaches the
matcher, and this service, in order with every other profile change.
The page shows the edit at once from its own copy (``notifier.members.profile``).
"""

from __future__ import annotations

from datetime import datetime

from shared.db import Connection
from shared.events import Envelope, ProfileEdited
from shared.outbox import enqueue
from shared.profile_edit import ProfileEdit
from shared.sealing import Sealer

SCHEMA = "notifier"
SOURCE = "/notifier/links"


async def edit_profile(
    conn: Connection, sealer: Sealer, member_id: str, edit: ProfileEdit, now: datetime
) -> None:
    await conn.execute(
        "UPDATE notifier.members SET profile = profile || $2, updated_at = now()"
        " WHERE member_id = $1",
        member_id,
        edit.to_json(),
    )
    event = ProfileEdited(
        member_id=member_id,
        edited_at=now.isoformat(),
        sealed_edit=sealer.seal(edit.to_json()),
    )
    await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
