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
holds (a planner at work on that member) are left to it. A member whose
plan cannot be made stays ``pending`` for the planner, which plans it alone
(and quarantines it if it fails again); if a statement fails, the consumer
rolls the batch back and handles its messages one by one, which records the
matches and leaves the planning to the planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.notifier import instant_queries, plan_batches
from services.notifier.planning import Prefs
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
        """The emails planned for these members' notifications due at ``now``:
        the digest planner's facts, decisions and writes (``plan_batches``),
        over the rows locked here. A member whose plan cannot be made is left
        ``pending`` for the planner, which plans it alone."""
        known = sorted({m for m in member_ids if m in prefs})
        due = await instant_queries.lock_due(conn, known, now)
        if not due:
            return 0
        loaded, failed = await plan_batches.load_facts(
            conn,
            due,
            {m: prefs[m] for m in due},
            now=now,
            address_hashes=self._address_hashes,
        )
        for member_id in failed:
            loaded.pending.pop(member_id, None)
        plans, _ = plan_batches.decide(loaded, now=now, weekly_cap=self.weekly_cap)
        emails = await plan_batches.apply(conn, plans, loaded.week_start, now)
        reasons = {r for p in plans.values() for r in p.cancel.values()}
        if reasons:
            log.info("notifications cancelled", reasons=sorted(reasons))
        return emails

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
