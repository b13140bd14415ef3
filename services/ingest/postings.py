"""How a company's webhook changes a posting: pure rules, no I/O.

Deliveries can arrive late, twice or out of order (retries can come days
later). The signed ``webhook-timestamp`` orders them:
- a delivery older than the newest change applied is acknowledged and ignored
  (``stale``);
- ``job.updated`` for an unknown posting creates it, so an update that
  overtakes its ``job.created`` is not lost; the late ``job.created`` is then
  stale;
- ``job.created`` for a known open posting updates it;
- ``job.closed`` for an unknown posting records it closed, so a late
  ``job.created`` cannot open it; nobody is told (nobody knew of it);
- a closed posting stays closed: a newer ``job.created`` or ``job.updated``
  is a 409 conflict (reopen it under a new external id);
- a change that leaves the posting as it was is acknowledged as ``unchanged``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Outcome = Literal[
    "created",
    "updated",
    "closed",
    "unchanged",
    "stale",
    "already_closed",
    "closed_unknown",
    "conflict_closed",
]


@dataclass(frozen=True)
class Current:
    revision: int
    status: Literal["open", "closed"]
    data: dict[str, Any]
    source_time: datetime


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    # The event to publish, if any: job.created / job.updated / job.closed.
    event: str | None
    revision: int
    status: Literal["open", "closed"]


def decide(
    current: Current | None, event_type: str, data: dict[str, Any], source_time: datetime
) -> Decision:
    closing = event_type == "job.closed"
    if current is None:
        if closing:
            return Decision("closed_unknown", None, 1, "closed")
        return Decision("created", "job.created", 1, "open")
    if source_time < current.source_time:
        return Decision("stale", None, current.revision, current.status)
    if current.status == "closed":
        if closing:
            return Decision("already_closed", None, current.revision, "closed")
        return Decision("conflict_closed", None, current.revision, "closed")
    if closing:
        return Decision("closed", "job.closed", current.revision + 1, "closed")
    if data == current.data:
        return Decision("unchanged", None, current.revision, "open")
    return Decision("updated", "job.updated", current.revision + 1, "open")
