"""When a member's email may go out: quiet hours, digest slots and the weekly cap.

Everything is computed in the member's own time zone and returned as an aware
UTC ``datetime``. Wall-clock times are turned into instants with one rule,
"the first instant at which the member's clock reads at least this time":
- a time skipped by a spring-forward gap becomes the moment of the jump;
- a time repeated by a fall-back becomes its first occurrence,
so a digest is neither lost nor sent twice on a DST night.

Dates at the edges of the calendar are real input ("9999-12-31" is how many
applicant-tracking systems say "no end date"; a pause "until 9999"), and
``datetime`` cannot step past year 9999 or before year 1. Every moment is
first brought inside ``[EARLIEST, LATEST]`` (``clamp``): a pause until the
year 9999 is a pause until 9000, which is the same thing for a member, and
the arithmetic below then always has days to spare on both sides.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_ZONE",
    "EARLIEST",
    "LATEST",
    "QuietHours",
    "clamp",
    "in_quiet_hours",
    "instant_send_time",
    "jobs_left_this_week",
    "member_zone",
    "next_daily_digest",
    "next_weekly_digest",
    "parse_quiet_hours",
    "week_bounds",
]

DEFAULT_ZONE = "Europe/Rome"
_DAY = timedelta(days=1)
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
# Years of room on both sides: a week's arithmetic, a zone's offset and a
# DST search never leave ``datetime``'s range from inside this window.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local-time window ``[start, end)``; ``start > end`` crosses midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are wall-clock times, without tzinfo")
        if self.start == self.end:
            raise ValueError("an empty quiet-hours window is 'no quiet hours': use None")

    def contains(self, wall: time) -> bool:
        wall = wall.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


def parse_quiet_hours(value: Sequence[str] | None) -> QuietHours | None:
    """``("22:00", "07:30")`` as in the member events; empty or equal ends mean none."""
    if not value:
        return None
    if len(value) != 2:
        raise ValueError("quiet hours are a (start, end) pair")
    start, end = (_parse_hhmm(v) for v in value)
    return None if start == end else QuietHours(start, end)


def member_zone(name: str | None) -> ZoneInfo:
    """The member's zone, or the community's default if the name is unusable.

    A bad zone name in a profile must not stop mail; Rome and Stockholm share
    their offsets, so the default is right for nearly every member anyway.
    """
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_ZONE)


def in_quiet_hours(moment: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> bool:
    if quiet is None:
        return False
    return quiet.contains(_aware(moment).astimezone(zone).time())


def instant_send_time(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """Now, or the end of the quiet hours ``now`` falls in."""
    return _after_quiet_hours(clamp(now), zone, quiet)


def _after_quiet_hours(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    # ``now`` is clamped by the caller: a digest slot may be just past LATEST.
    if quiet is None or not in_quiet_hours(now, zone, quiet):
        return now
    # The window ends the next time the member's clock reaches ``quiet.end``.
    # Look at every occurrence around today: on a fall-back night the end may
    # come twice, and if ``now`` is in the repeated hour only the second counts.
    # A spring-forward gap can swallow a short gap between two windows, so an
    # "end" that is still quiet is skipped.
    today = now.astimezone(zone).date()
    ends = sorted(
        moment
        for offset in range(-1, 4)
        for moment in _wall_instants(today + timedelta(days=offset), quiet.end, zone)
    )
    for moment in ends:
        if moment > now and not in_quiet_hours(moment, zone, quiet):
            return moment
    raise ValueError("no moment outside quiet hours in the coming days")  # not reachable


def next_daily_digest(
    now: datetime, zone: ZoneInfo, at: time, quiet: QuietHours | None = None
) -> datetime:
    """The first daily slot at local time ``at`` strictly after ``now``.

    Strictly after, so a run that has just sent a digest never computes the
    same slot again. A slot inside quiet hours moves to their end (the
    preferences page should not allow that, but a stale profile might).
    """
    now = clamp(now)
    day = now.astimezone(zone).date() - _DAY  # start early: DST can shift "today"
    while True:
        slot = _first_instant_at(day, at, zone)
        if slot > now:
            return _after_quiet_hours(slot, zone, quiet)
        day += _DAY


def next_weekly_digest(
    now: datetime, zone: ZoneInfo, weekday: int, at: time, quiet: QuietHours | None = None
) -> datetime:
    """The first slot on ``weekday`` (0 = Monday) at local ``at`` strictly after ``now``."""
    if not 0 <= weekday <= 6:
        raise ValueError("weekday is 0 (Monday) to 6 (Sunday)")
    now = clamp(now)
    day = now.astimezone(zone).date() - _DAY
    day += timedelta(days=(weekday - day.weekday()) % 7)
    while True:
        slot = _first_instant_at(day, at, zone)
        if slot > now:
            return _after_quiet_hours(slot, zone, quiet)
        day += timedelta(days=7)


def week_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the member's local ISO week (Monday 00:00) holding ``now``.

    The weekly cap counts jobs sent in this window, so "this week" means the
    member's week, not the server's.
    """
    local_day = clamp(now).astimezone(zone).date()
    monday = local_day - timedelta(days=local_day.weekday())
    return (
        _first_instant_at(monday, time(0), zone),
        _first_instant_at(monday + timedelta(days=7), time(0), zone),
    )


def jobs_left_this_week(cap: int, sent_counts: Iterable[int]) -> int:
    """How many more jobs may be sent this week, given the jobs per email already sent."""
    if cap < 0:
        raise ValueError("cap must be >= 0")
    sent = 0
    for count in sent_counts:
        if count < 0:
            raise ValueError("sent counts must be >= 0")
        sent += count
    return max(0, cap - sent)


def _first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant on local ``day`` at which the clock reads ``wall`` or later."""
    return _wall_instants(day, wall, zone)[0]


def _wall_instants(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The instants (UTC) at which the clock on local ``day`` reaches ``wall``.

    One normally; two when a fall-back repeats ``wall``; for a time skipped by
    a spring-forward gap, the instant of the jump.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) == naive:
        return [early] if early == late else [early, late]
    # In a gap, fold=1 reads ``wall`` with the offset after the jump, which
    # is an instant before it; fold=0 with the one before, an instant after.
    # Bisect (whole seconds: zone transitions are) to the jump itself.
    lo, hi = int(late.timestamp()), int(early.timestamp())
    offset_before = late.astimezone(zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == offset_before:
            lo = mid
        else:
            hi = mid
    return [datetime.fromtimestamp(hi, UTC)]


def _parse_hhmm(value: str) -> time:
    match = _HHMM.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not an HH:MM time: {value!r}")
    return time(int(match[1]), int(match[2]))


def clamp(moment: datetime) -> datetime:
    """``moment`` in UTC, brought inside ``[EARLIEST, LATEST]``."""
    _aware(moment)
    # Compared before converting: converting year 1 at +01:00 to UTC is itself
    # out of range (aware comparisons never are).
    if moment <= EARLIEST:
        return EARLIEST
    if moment >= LATEST:
        return LATEST
    return moment.astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment
