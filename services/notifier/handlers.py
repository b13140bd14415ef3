"""The notifier's event handlers: short, idempotent, one per event type.

Each runs inside the consumer's transaction, with the event id already in the
inbox; the tables add their own guards (one notification per match id,
revisions on members), so a replay with a new event id changes nothing either.
Nothing is sent here: the sender (``sender.py``) picks due notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notifier import consent, planning, privacy, queries
from shared import logs
from shared.consumer import Handler
from shared.db import Connection
from shared.events import (
    Envelope,
    JobClosed,
    JobCreated,
    JobPosting,
    JobUpdated,
    MatchFound,
    MatchWithdrawn,
    MemberChanged,
    MemberErased,
    Ping,
    ReferralSettled,
)

log = logs.get_logger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def make_handlers(clock: Clock = _utcnow) -> dict[str, Handler]:
    async def on_ping(event: Envelope, conn: Connection) -> None:
        ping = event.payload(Ping)
        log.info("ping received", ping_id=ping.ping_id)

    async def on_match_found(event: Envelope, conn: Connection) -> None:
        match = event.payload(MatchFound)
        now = clock()
        state, reason = "pending", None
        if await queries.posting_is_closed(conn, match.posting_id):
            state, reason = "cancelled", "posting closed"
        prefs = await queries.member(conn, match.member_id)
        due = planning.due_at(prefs, now)
        await queries.add_notification(conn, match, due=due, state=state, reason=reason)
        log.info("match scheduled", match_id=match.match_id, state=state, due_at=due.isoformat())

    async def on_match_withdrawn(event: Envelope, conn: Connection) -> None:
        withdrawn = event.payload(MatchWithdrawn)
        await queries.match_withdrawn(conn, withdrawn.match_id, withdrawn.reason)

    async def on_job(event: Envelope, conn: Connection) -> None:
        posting = event.payload(JobPosting)
        await queries.posting_opened(conn, posting)

    async def on_job_closed(event: Envelope, conn: Connection) -> None:
        closed = event.payload(JobClosed)
        await queries.posting_closed(conn, closed.posting_id, closed.revision)

    async def on_member_changed(event: Envelope, conn: Connection) -> None:
        member = event.payload(MemberChanged)
        paused = planning.parse_pause(member.paused_until, member.timezone)
        if not await queries.upsert_member(conn, member, paused):
            log.info("member change not applied (older revision or erased)")
            return
        prefs = await queries.member(conn, member.member_id)
        assert prefs is not None
        if not prefs.receives:
            await queries.cancel_member_pending(conn, member.member_id, "opted out")
        else:
            await queries.reschedule_member(conn, member.member_id, planning.due_at(prefs, clock()))

    async def on_member_erased(event: Envelope, conn: Connection) -> None:
        erased = event.payload(MemberErased)
        await queries.erase_member(conn, erased.member_id)
        await privacy.forget(conn, erased.member_id)

    return {
        Ping.TYPE: on_ping,
        MatchFound.TYPE: on_match_found,
        MatchWithdrawn.TYPE: on_match_withdrawn,
        JobCreated.TYPE: on_job,
        JobUpdated.TYPE: on_job,
        JobClosed.TYPE: on_job_closed,
        MemberChanged.TYPE: on_member_changed,
        MemberErased.TYPE: on_member_erased,
        ReferralSettled.TYPE: consent.on_settled,
    }


HANDLERS: dict[str, Handler] = make_handlers()
