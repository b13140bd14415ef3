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
from services.notifier.instant import InstantPlanner
from shared import logs
from shared.consumer import BatchHandler, Handler
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
    ReferralDelayed,
    ReferralSettled,
)
from shared.revisions import latest_per_member

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
        ReferralDelayed.TYPE: consent.on_delayed,
    }


def make_batch_handlers(
    clock: Clock = _utcnow, planner: InstantPlanner | None = None
) -> dict[str, BatchHandler]:
    """Member changes many at once (an import sends them by the thousand): the
    effect of ``on_member_changed`` for each member's latest revision. Matches
    found and withdrawn (an opening fits many members): the effect of their
    one-by-one handlers, with a lookup or a write per batch, not per match.
    With ``planner`` (the service's), matches that may go now are planned
    into emails in the same transaction (``instant.py``), not by the planner."""

    async def on_members_changed(events: list[Envelope], conn: Connection) -> None:
        # An equal revision is applied again one by one (the upsert's >=).
        latest = latest_per_member(
            (event.payload(MemberChanged) for event in events), equal_replaces=True
        )
        applied = await queries.upsert_members(
            conn, [(m, planning.parse_pause(m.paused_until, m.timezone)) for m in latest]
        )
        now = clock()
        await queries.cancel_members_pending(
            conn, [m for m, prefs in applied.items() if not prefs.receives], "opted out"
        )
        await queries.reschedule_members(
            conn, {m: planning.due_at(prefs, now) for m, prefs in applied.items() if prefs.receives}
        )
        log.info("member changes applied", events=len(events), applied=len(applied))

    async def on_matches_found(events: list[Envelope], conn: Connection) -> None:
        """``on_match_found`` for each match, with one lookup of the postings and
        one of the members, and one insert (one wake-up of the planners)."""
        matches = [event.payload(MatchFound) for event in events]
        closed = await queries.closed_postings(conn, [m.posting_id for m in matches])
        prefs = await queries.members(conn, [m.member_id for m in matches])
        now = clock()
        rows = [
            (m, planning.due_at(prefs.get(m.member_id), now), *_opening_state(m, closed))
            for m in matches
        ]
        await queries.add_notifications(conn, rows)
        planned = 0
        if planner is not None:
            planned = await planner.plan(conn, prefs, [m.member_id for m in matches], now)
        log.info("matches scheduled", events=len(events), planned=planned)

    async def on_matches_withdrawn(events: list[Envelope], conn: Connection) -> None:
        withdrawn = [event.payload(MatchWithdrawn) for event in events]
        await queries.matches_withdrawn(conn, [(w.match_id, w.reason) for w in withdrawn])

    return {
        MemberChanged.TYPE: on_members_changed,
        MatchFound.TYPE: on_matches_found,
        MatchWithdrawn.TYPE: on_matches_withdrawn,
    }


def _opening_state(match: MatchFound, closed: frozenset[str]) -> tuple[str, str | None]:
    """A match for a closed posting is kept, cancelled, as one by one."""
    return ("cancelled", "posting closed") if match.posting_id in closed else ("pending", None)


HANDLERS: dict[str, Handler] = make_handlers()
BATCH_HANDLERS: dict[str, BatchHandler] = make_batch_handlers()
