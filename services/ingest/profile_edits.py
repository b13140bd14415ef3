"""Applying a member's own profile edit (``profile.edited``, from the
notifier's preference page) to the profile ingest owns, and re-publishing the
profile as ``member.changed`` with the next revision, in the consumer's
transaction. So the matcher and the notifier hear of the edit the way they
hear of every profile change, in revision order.

The platform stays the owner of record: the member's edit holds until the
platform sends a profile that differs from the one it sent last (the stored
content hash is left as the platform's), which replaces the whole profile,
as a platform's change of a field replaces a link choice in the notifier.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.ingest import member_changes
from shared import logs, member_companies
from shared.consumer import Poison
from shared.db import Connection
from shared.events import Envelope, MemberChanged, ProfileEdited
from shared.outbox import enqueue
from shared.profile_edit import EditError, ProfileEdit
from shared.sealing import Sealer, SealError

log = logs.get_logger(__name__)


async def on_edited(event: Envelope, conn: Connection, sealer: Sealer) -> None:
    edited = event.payload(ProfileEdited)
    try:
        member_id = uuid.UUID(edited.member_id)
        at = datetime.fromisoformat(edited.edited_at)
        edit = ProfileEdit.from_json(sealer.open(edited.sealed_edit))
    except (ValueError, SealError) as exc:
        # EditError names the field and the problem only, never the value.
        reason = str(exc) if isinstance(exc, EditError) else type(exc).__name__
        raise Poison(f"profile edit not applicable: {reason}") from None
    if at.tzinfo is None:
        raise Poison("profile edit not applicable: edited_at has no time zone")
    row = await conn.fetchrow(
        "SELECT revision, opted_in, profile, sealed_contact, edited_at FROM ingest.members"
        " WHERE id = $1 FOR UPDATE",
        member_id,
    )
    if row is None:
        log.info("profile edit of an erased member ignored")
        return
    if row["edited_at"] is not None and row["edited_at"] >= at:
        log.info("profile edit older than the one applied, ignored")
        return
    profile = {**row["profile"], **edit.to_json()}
    revision = row["revision"] + 1
    await conn.execute(
        "UPDATE ingest.members SET revision = $2, profile = $3, edited_at = $4,"
        " updated_at = now() WHERE id = $1",
        member_id,
        revision,
        profile,
        at,
    )
    event_out = member_companies.sealed(
        MemberChanged(
            member_id=str(member_id),
            revision=revision,
            opted_in=row["opted_in"],
            sealed_contact=row["sealed_contact"],
            **member_changes.event_fields(profile),
        ),
        sealer,
    )
    await enqueue(
        conn, member_changes.SCHEMA, Envelope.wrap(event_out, source=member_changes.SOURCE)
    )
    log.info("member profile edited by the member", revision=revision)
