"""What to do with a member's due notifications: send (and how grouped), defer or cancel.

Pure functions over plain values, so the decisions are unit-tested without a
database; ``queries`` loads the facts and applies the plan in one transaction.

Order of the checks, each with its recorded reason:
- the member is unknown (match.found came before member.changed): wait a
  little for the profile, give up after a day;
- opted out on the platform or unsubscribed through a link: cancel;
- no address, or an address suppressed after a permanent failure: cancel;
- paused: defer to the first slot after the pause;
- per job: posting closed, already sent to this member, "not for me",
  past its closing date, or a second match for the same posting: cancel;
- the weekly cap: the best jobs first, the rest cancelled (curated, not queued).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from services.notifier.schedule import (
    QuietHours,
    clamp,
    instant_send_time,
    member_zone,
    next_daily_digest,
    next_weekly_digest,
    parse_quiet_hours,
)

Frequency = Literal["instant", "daily", "weekly"]

# Digests go out at this local time (weekly ones on Monday): the start of an
# assistant's working day, before the calendar fills up.
DIGEST_AT = time(8, 0)
WEEKLY_DIGEST_DAY = 0
# A match can overtake its member's profile on the way (different queues):
# wait this long for member.changed before looking again, and give up after
# ``MEMBER_WAIT_LIMIT``.
MEMBER_WAIT = timedelta(minutes=5)
MEMBER_WAIT_LIMIT = timedelta(days=1)


@dataclasses.dataclass(frozen=True, slots=True)
class Prefs:
    """A member's effective delivery preferences (choices made through links win)."""

    member_id: str
    link_id: uuid.UUID
    opted_in: bool
    unsubscribed: bool
    language: str
    timezone: str
    frequency: Frequency
    quiet_hours: tuple[str, ...]
    paused_until: datetime | None
    sealed_contact: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Prefs:
        # The member's own choice on a link (a pause, or its early end) wins
        # over the platform's until the platform sends a different value,
        # which clears it (queries.upsert_member).
        local_pause = row["local_paused_until"]
        quiet = row["local_quiet_hours"]
        if quiet is None:
            quiet = row["quiet_hours"]
        return cls(
            member_id=row["member_id"],
            link_id=row["link_id"],
            opted_in=row["opted_in"],
            unsubscribed=row["unsubscribed_at"] is not None,
            language=row["local_language"] or row["language"],
            timezone=row["timezone"],
            frequency=row["local_frequency"] or row["frequency"],
            quiet_hours=tuple(quiet or ()),
            paused_until=local_pause if local_pause is not None else row["paused_until"],
            sealed_contact=row["sealed_contact"],
        )

    @property
    def receives(self) -> bool:
        return self.opted_in and not self.unsubscribed


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """A due notification, as much of it as the decisions need."""

    id: uuid.UUID
    posting_id: str
    score: float
    created_at: datetime
    valid_through: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """What the database says about the member and the jobs, loaded in the same transaction."""

    closed_postings: frozenset[str] = frozenset()
    sent_postings: frozenset[str] = frozenset()
    not_for_me: frozenset[str] = frozenset()
    address_suppressed: bool = False
    jobs_this_week: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Email:
    kind: Frequency
    jobs: tuple[Pending, ...]  # best first


@dataclasses.dataclass
class Plan:
    emails: list[Email] = dataclasses.field(default_factory=list)
    cancel: dict[uuid.UUID, str] = dataclasses.field(default_factory=dict)
    defer: dict[uuid.UUID, datetime] = dataclasses.field(default_factory=dict)

    @property
    def jobs(self) -> int:
        return sum(len(e.jobs) for e in self.emails)


def quiet_hours_of(prefs: Prefs) -> QuietHours | None:
    try:
        return parse_quiet_hours(prefs.quiet_hours)
    except ValueError:
        return None  # a malformed profile must not stop mail


def due_at(prefs: Prefs | None, now: datetime) -> datetime:
    """When a match found ``now`` may be sent to this member."""
    now = clamp(now)
    if prefs is None:
        return now + MEMBER_WAIT
    start = max(now, prefs.paused_until) if prefs.paused_until else now
    zone = member_zone(prefs.timezone)
    quiet = quiet_hours_of(prefs)
    if prefs.frequency == "daily":
        return next_daily_digest(start, zone, DIGEST_AT, quiet)
    if prefs.frequency == "weekly":
        return next_weekly_digest(start, zone, WEEKLY_DIGEST_DAY, DIGEST_AT, quiet)
    return instant_send_time(start, zone, quiet)


def parse_pause(value: str | None, timezone: str) -> datetime | None:
    """A profile's ``paused_until``: an ISO datetime, or a date meaning its local
    midnight; a moment past the calendar's edges is taken as ``EARLIEST`` or
    ``LATEST`` (schedule.clamp)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        moment = datetime.combine(day, time(0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=member_zone(timezone))
    return clamp(moment)


def expired(valid_through: str | None, now: datetime) -> bool:
    """Whether a posting's closing date or moment has passed; "9999-12-31"
    (many systems' "no end date") and other edge dates never fail."""
    if not valid_through:
        return False
    try:
        if len(valid_through) == 10:
            # A closing date is open the whole of that day, wherever the reader
            # is: until 12:00 UTC of the next day. Clamped first, so the day
            # after 9999-12-31 is never computed.
            day = date.fromisoformat(valid_through)
            start = clamp(datetime.combine(day, time(0), tzinfo=UTC))
            moment = start + timedelta(days=1, hours=12)
        else:
            moment = datetime.fromisoformat(valid_through.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return clamp(moment) <= clamp(now)


def plan(
    prefs: Prefs | None,
    pending: Sequence[Pending],
    facts: Facts,
    *,
    now: datetime,
    weekly_cap: int,
) -> Plan:
    result = Plan()
    if not pending:
        return result
    if prefs is None:
        for item in pending:
            if now - item.created_at >= MEMBER_WAIT_LIMIT:
                result.cancel[item.id] = "unknown member"
            else:
                result.defer[item.id] = now + MEMBER_WAIT
        return result
    if not prefs.receives:
        return _cancel_all(result, pending, "opted out")
    if not prefs.sealed_contact:
        return _cancel_all(result, pending, "no address")
    if facts.address_suppressed:
        return _cancel_all(result, pending, "address suppressed")
    if prefs.paused_until is not None and prefs.paused_until > now:
        later = due_at(prefs, now)
        for item in pending:
            result.defer[item.id] = later
        return result

    keep: dict[str, Pending] = {}
    for item in sorted(pending, key=_best_first):
        reason = _job_reason(item, facts, now)
        if reason is None and item.posting_id in keep:
            reason = "duplicate match"
        if reason is not None:
            result.cancel[item.id] = reason
        else:
            keep[item.posting_id] = item
    chosen = sorted(keep.values(), key=_best_first)
    left = max(0, weekly_cap - facts.jobs_this_week)
    for item in chosen[left:]:
        result.cancel[item.id] = "weekly cap"
    chosen = chosen[:left]
    if not chosen:
        return result
    if prefs.frequency == "instant":
        result.emails.extend(Email("instant", (item,)) for item in chosen)
    else:
        result.emails.append(Email(prefs.frequency, tuple(chosen)))
    return result


def _job_reason(item: Pending, facts: Facts, now: datetime) -> str | None:
    if item.posting_id in facts.closed_postings:
        return "posting closed"
    if item.posting_id in facts.sent_postings:
        return "already sent"
    if item.posting_id in facts.not_for_me:
        return "not for me"
    if expired(item.valid_through, now):
        return "posting expired"
    return None


def _best_first(item: Pending) -> tuple[float, datetime, str]:
    return (-item.score, item.created_at, str(item.id))


def _cancel_all(result: Plan, pending: Iterable[Pending], reason: str) -> Plan:
    for item in pending:
        result.cancel[item.id] = reason
    return result
