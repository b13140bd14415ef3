"""Dates at the edges of the calendar never stop the planner.

"9999-12-31" is how many applicant-tracking systems say "no end date"; a
pause can be "until 9999"; offsets shift year 1 and year 9999 past the range
of ``datetime``. Every planning and schedule function takes any such value
and answers with an aware UTC moment, never an OverflowError.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.planning import (
    Facts,
    Pending,
    Prefs,
    due_at,
    expired,
    parse_pause,
    plan,
)
from services.notifier.schedule import (
    EARLIEST,
    LATEST,
    QuietHours,
    clamp,
    in_quiet_hours,
    instant_send_time,
    next_daily_digest,
    next_weekly_digest,
    week_bounds,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ZONES = sorted(available_timezones() - {"Factory", "localtime"})

zones = st.sampled_from(ZONES).map(ZoneInfo)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
# Every representable aware moment, in a named zone or at a fixed offset: the
# edges (year 1, year 9999) come up often, hypothesis favours them.
moments = st.one_of(
    st.datetimes(timezones=zones),
    st.datetimes(timezones=offsets),
    st.sampled_from(
        [
            datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
            datetime.max.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
        ]
    ),
)
walls = st.times().map(lambda t: t.replace(microsecond=0))
quiet_hours = st.none() | st.tuples(walls, walls).filter(lambda p: p[0] != p[1]).map(
    lambda p: QuietHours(*p)
)
edge_days = st.one_of(
    st.dates(),
    st.sampled_from([date.min, date.max, date(9999, 12, 30), date(1, 1, 2)]),
)


def prefs(frequency: str, paused_until: datetime | None, zone: str = "Europe/Rome") -> Prefs:
    return Prefs(
        member_id="m1",
        link_id=uuid.uuid4(),
        opted_in=True,
        unsubscribed=False,
        language="it",
        timezone=zone,
        frequency=frequency,  # type: ignore[arg-type]
        quiet_hours=("22:00", "07:00"),
        paused_until=paused_until,
        sealed_contact="sealed",
    )


def inside(moment: datetime) -> bool:
    return moment.tzinfo is UTC and EARLIEST <= moment <= LATEST + timedelta(days=8)


def test_a_far_closing_date_is_open_and_planned_like_any_other():
    item = Pending(uuid.uuid4(), "p1", 0.9, NOW, valid_through="9999-12-31")
    assert not expired("9999-12-31", NOW)
    decided = plan(prefs("instant", None), [item], Facts(), now=NOW, weekly_cap=10)
    assert [e.jobs for e in decided.emails] == [(item,)]
    assert decided.cancel == {}


def test_a_closing_date_at_the_start_of_the_calendar_has_passed():
    assert expired("0001-01-01", NOW)
    assert expired("0001-01-01T00:00:00+14:00", NOW)


def test_a_pause_until_the_end_of_the_calendar_defers_far_and_never_fails():
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Rome"):
        paused = parse_pause("9999-12-31", zone)
        assert paused is not None and paused >= LATEST - timedelta(days=1)
        for frequency in ("instant", "daily", "weekly"):
            assert due_at(prefs(frequency, paused, zone), NOW) >= LATEST - timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(day=edge_days, now=moments)
def test_expired_answers_for_every_date(day, now):
    answer = expired(day.isoformat(), now)
    assert isinstance(answer, bool)
    if clamp(now) == clamp(NOW):
        assert answer == (day < NOW.date() - timedelta(days=1))


@settings(max_examples=300, deadline=None)
@given(moment=moments)
def test_expired_answers_for_every_moment(moment):
    assert isinstance(expired(moment.isoformat(), NOW), bool)
    assert isinstance(expired(moment.replace(tzinfo=None).isoformat(), NOW), bool)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(moments.map(datetime.isoformat), edge_days.map(date.isoformat)))
def test_parse_pause_answers_for_every_value_and_zone(value):
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"):
        paused = parse_pause(value, zone)
        assert paused is not None and inside(paused)


@settings(max_examples=300, deadline=None)
@given(now=moments, paused=st.none() | moments, zone=st.sampled_from(ZONES))
def test_due_at_answers_for_every_moment_zone_and_pause(now, paused, zone):
    for frequency in ("instant", "daily", "weekly"):
        due = due_at(prefs(frequency, None if paused is None else clamp(paused), zone), now)
        assert inside(due)
        assert due >= clamp(now)


@settings(max_examples=300, deadline=None)
@given(now=moments, zone=zones, quiet=quiet_hours, at=walls, weekday=st.integers(0, 6))
def test_schedule_answers_for_every_moment_and_zone(now, zone, quiet, at, weekday):
    start = clamp(now)
    instant = instant_send_time(now, zone, quiet)
    assert inside(instant) and instant >= start
    if start < LATEST:
        assert not in_quiet_hours(instant, zone, quiet)
    daily = next_daily_digest(now, zone, at, quiet)
    weekly = next_weekly_digest(now, zone, weekday, at, quiet)
    assert inside(daily) and daily > start
    assert inside(weekly) and weekly > start
    week_start, week_end = week_bounds(now, zone)
    assert week_start <= start < week_end or start in (EARLIEST, LATEST)


def test_clamp_keeps_every_moment_inside_the_window():
    assert clamp(datetime.max.replace(tzinfo=UTC)) == LATEST
    assert clamp(datetime.min.replace(tzinfo=timezone(timedelta(hours=14)))) == EARLIEST
    assert clamp(NOW.astimezone(ZoneInfo("Asia/Tokyo"))) == NOW
    assert clamp(datetime.combine(date(2026, 1, 1), time(0), tzinfo=UTC)).tzinfo is UTC
