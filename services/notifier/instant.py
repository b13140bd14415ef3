"""Matches that may go at once are planned where they arrive: in the
consumer's transaction that records a batch of ``match.found``.

The planner (``sender.Dispatcher.plan_member``) plans one member per
transaction, a dozen round trips and a commit each; at 100,000 members and
100 instant emails a second that was the pipeline's limit (docs/performance.md,
"End to end", session 5). Here the same decisions (``planning.plan``, the same
facts, the same order of checks) are made for every member of a batch with a
few statements in all, and the emails are committed with the notifications
they come from; the commit's ``notifier_due`` notification wakes the sender.

What is not due now (digests, quiet hours, pauses, an unknown member) stays
``pending`` for the planner, as before. Notifications another transaction
holds (a planner at work on that member) are left to it. If anything here
fails, the consumer rolls the batch back and handles its messages one by one,
which records the matches and leaves the planning to the planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.notifier import instant_queries, planning, queries
from services.notifier.planning import Email, Prefs
from services.notifier.schedule import member_zone, week_bounds
from shared import logs, sealing
from shared.db import Connection
from shared.sealing import Sealer, SealError
from shared.settings import Settings

log = logs.get_logger(__name__)

SUPPRESS_PURPOSE = "suppress/v1"  # as sender.address_hashes


class InstantPlanner:
    """Plans the due notifications of a batch's members, in the caller's transaction."""

    def __init__(self, settings: Settings, sealer: Sealer) -> None:
        self.secrets = settings.secret_keys
        self.weekly_cap = settings.notifier_weekly_cap
        self.sealer = sealer

    async def plan(
        self, conn: Connection, prefs: dict[str, Prefs], member_ids: Sequence[str], now: datetime
    ) -> int:
        """The emails planned for these members' notifications due at ``now``."""
        known = sorted({m for m in member_ids if m in prefs})
        due = await instant_queries.lock_due(conn, known, now)
        if not due:
            return 0
        pairs = sorted({(m, p.posting_id) for m, items in due.items() for p in items})
        postings = sorted({p for _, p in pairs})
        closed = await queries.closed_postings(conn, postings)
        sent = await queries.sent_pairs(conn, pairs)
        declined = await queries.not_for_me_pairs(conn, pairs)
        hashes = {m: self._address_hashes(prefs[m]) for m in due}
        suppressed = frozenset(
            await queries.suppressed_of(conn, [h for found in hashes.values() for h in found])
        )
        weeks = {m: week_bounds(now, member_zone(prefs[m].timezone))[0] for m in due}
        counted = await queries.jobs_this_week_many(conn, weeks)
        cancel: dict[Any, str] = {}
        defer: dict[Any, datetime] = {}
        emails: list[tuple[str, Email]] = []
        counts: dict[str, tuple[datetime, int]] = {}
        for member_id, pending in sorted(due.items()):
            mine = {p.posting_id for p in pending}
            facts = planning.Facts(
                closed_postings=closed & mine,
                sent_postings=frozenset(p for m, p in sent if m == member_id),
                not_for_me=frozenset(p for m, p in declined if m == member_id),
                address_suppressed=any(h in suppressed for h in hashes[member_id]),
                jobs_this_week=counted.get(member_id, 0),
            )
            decided = planning.plan(
                prefs[member_id], pending, facts, now=now, weekly_cap=self.weekly_cap
            )
            cancel.update(decided.cancel)
            defer.update(decided.defer)
            emails.extend((member_id, email) for email in decided.emails)
            if decided.jobs:
                counts[member_id] = (weeks[member_id], decided.jobs)
        # The digest planner's batch writes (plan_batches.py): one statement each.
        await queries.cancel_many(conn, cancel)
        await queries.defer_many(conn, defer)
        await queries.create_emails(conn, emails)
        await queries.count_jobs_many(conn, counts)
        if cancel:
            log.info("notifications cancelled", reasons=sorted(set(cancel.values())))
        return len(emails)

    def _address_hashes(self, prefs: Prefs) -> list[bytes]:
        """As the planner's suppression check: the address's keyed hashes
        under every live secret, none when there is no usable address."""
        if not prefs.sealed_contact:
            return []
        try:
            address = self.sealer.open(prefs.sealed_contact).get("email")
        except SealError:
            log.warning("a member's contact cannot be opened", member_id=prefs.member_id)
            return []
        if not isinstance(address, str):
            return []
        return sealing.address_hashes(self.secrets, SUPPRESS_PURPOSE, address)
