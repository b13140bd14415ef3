"""Send times in the member's time zone: quiet hours, digests, DST, the weekly cap."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.schedule import (
    QuietHours,
    in_quiet_hours,
    instant_send_time,
    jobs_left_this_week,
    member_zone,
    next_daily_digest,
    next_weekly_digest,
    parse_quiet_hours,
    week_bounds,
)

ROME = ZoneInfo("Europe/Rome")
NIGHT = QuietHours(time(22), time(7))


def rome(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0):
    return datetime(year, month, day, hour, minute, tzinfo=ROME, fold=fold)


def local(moment: datetime, zone: ZoneInfo = ROME) -> datetime:
    return moment.astimezone(zone)


# --- quiet hours ----------------------------------------------------------------------


def test_outside_quiet_hours_sends_now():
    now = rome(2025, 3, 4, 12, 0)
    assert instant_send_time(now, ROME, NIGHT) == now


def test_late_evening_waits_for_the_morning():
    sent = instant_send_time(rome(2025, 3, 4, 23, 15), ROME, NIGHT)
    assert local(sent) == rome(2025, 3, 5, 7, 0)


def test_early_morning_waits_for_the_end_of_the_same_night():
    sent = instant_send_time(rome(2025, 3, 5, 3, 0), ROME, NIGHT)
    assert local(sent) == rome(2025, 3, 5, 7, 0)


def test_window_boundaries_start_inclusive_end_exclusive():
    assert in_quiet_hours(rome(2025, 3, 4, 22, 0), ROME, NIGHT)
    assert not in_quiet_hours(rome(2025, 3, 4, 7, 0), ROME, NIGHT)
    assert in_quiet_hours(rome(2025, 3, 4, 6, 59), ROME, NIGHT)


def test_daytime_window_not_crossing_midnight():
    lunch = QuietHours(time(12), time(14))
    assert local(instant_send_time(rome(2025, 3, 4, 13, 0), ROME, lunch)) == rome(2025, 3, 4, 14)
    assert instant_send_time(rome(2025, 3, 4, 15, 0), ROME, lunch) == rome(2025, 3, 4, 15)


def test_quiet_hours_are_in_the_members_zone_not_utc():
    stockholm, new_york = ZoneInfo("Europe/Stockholm"), ZoneInfo("America/New_York")
    now = datetime(2025, 3, 4, 23, 30, tzinfo=UTC)  # 00:30 Stockholm, 18:30 New York
    assert instant_send_time(now, new_york, NIGHT) == now
    assert local(instant_send_time(now, stockholm, NIGHT), stockholm).time() == time(7)


def test_quiet_hours_ending_in_a_spring_forward_gap_end_at_the_jump():
    # 02:30 does not exist in Rome on 30 March 2025: clocks go 02:00 -> 03:00.
    quiet = QuietHours(time(22), time(2, 30))
    sent = instant_send_time(rome(2025, 3, 29, 23, 0), ROME, quiet)
    assert sent == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert local(sent).time() == time(3, 0)


def test_quiet_hours_in_a_repeated_hour_end_at_the_right_occurrence():
    # On 26 October 2025 Rome lives 02:00-03:00 twice.
    quiet = QuietHours(time(1), time(2, 30))
    first_pass = rome(2025, 10, 26, 1, 30)
    assert local(instant_send_time(first_pass, ROME, quiet)) == rome(2025, 10, 26, 2, 30)
    second_pass = rome(2025, 10, 26, 2, 10, fold=1)  # after the clocks went back
    sent = instant_send_time(second_pass, ROME, quiet)
    assert sent > second_pass
    # Compare in UTC: PEP 495 makes an ambiguous wall time unequal to any
    # datetime in another zone.
    assert sent == rome(2025, 10, 26, 2, 30, fold=1).astimezone(UTC)
    assert sent == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)


def test_parse_quiet_hours():
    assert parse_quiet_hours(("22:00", "07:30")) == QuietHours(time(22), time(7, 30))
    assert parse_quiet_hours(()) is None
    assert parse_quiet_hours(None) is None
    assert parse_quiet_hours(("08:00", "08:00")) is None
    for bad in (("24:00", "07:00"), ("7:00", "08:00"), ("22:00",), ("aa:bb", "07:00")):
        with pytest.raises(ValueError, match=r"HH:MM|pair"):
            parse_quiet_hours(bad)


def test_member_zone_falls_back_for_unusable_names():
    assert member_zone("Europe/Stockholm") == ZoneInfo("Europe/Stockholm")
    for bad in (None, "", "Mars/Olympus", "../../etc/passwd", "/etc/localtime"):
        assert member_zone(bad) == ROME


# --- digests --------------------------------------------------------------------------


def test_daily_digest_later_today_or_tomorrow():
    assert local(next_daily_digest(rome(2025, 3, 4, 6, 0), ROME, time(8))) == rome(2025, 3, 4, 8)
    assert local(next_daily_digest(rome(2025, 3, 4, 9, 0), ROME, time(8))) == rome(2025, 3, 5, 8)


def test_daily_digest_is_strictly_after_now():
    now = rome(2025, 3, 4, 8, 0)
    assert local(next_daily_digest(now, ROME, time(8))) == rome(2025, 3, 5, 8)


def test_daily_digest_keeps_local_hour_across_dst():
    before = next_daily_digest(rome(2025, 3, 29, 9, 0), ROME, time(8))
    after = next_daily_digest(before, ROME, time(8))
    assert local(before) == rome(2025, 3, 30, 8)
    assert local(after) == rome(2025, 3, 31, 8)
    assert after - before == timedelta(hours=24)
    assert before - next_daily_digest(rome(2025, 3, 28, 9), ROME, time(8)) == timedelta(hours=23)


def test_daily_digest_at_a_skipped_time_goes_at_the_jump():
    sent = next_daily_digest(rome(2025, 3, 29, 12, 0), ROME, time(2, 30))
    assert sent == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


def test_daily_digest_at_a_repeated_time_goes_once():
    first = next_daily_digest(rome(2025, 10, 25, 12, 0), ROME, time(2, 30))
    assert first == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # the first 02:30, CEST
    following = next_daily_digest(first, ROME, time(2, 30))
    assert local(following) == rome(2025, 10, 27, 2, 30)


def test_digest_inside_quiet_hours_moves_to_their_end():
    sent = next_daily_digest(rome(2025, 3, 4, 12, 0), ROME, time(6), NIGHT)
    assert local(sent) == rome(2025, 3, 5, 7, 0)


def test_weekly_digest_on_the_chosen_weekday():
    # 4 March 2025 is a Tuesday.
    monday = next_weekly_digest(rome(2025, 3, 4, 12, 0), ROME, 0, time(8, 30))
    assert local(monday) == rome(2025, 3, 10, 8, 30)
    tuesday_later = next_weekly_digest(rome(2025, 3, 4, 7, 0), ROME, 1, time(8, 30))
    assert local(tuesday_later) == rome(2025, 3, 4, 8, 30)
    tuesday_past = next_weekly_digest(rome(2025, 3, 4, 9, 0), ROME, 1, time(8, 30))
    assert local(tuesday_past) == rome(2025, 3, 11, 8, 30)
    with pytest.raises(ValueError, match="weekday"):
        next_weekly_digest(rome(2025, 3, 4, 9, 0), ROME, 7, time(8))


# --- weekly cap -----------------------------------------------------------------------


def test_jobs_left_this_week():
    assert jobs_left_this_week(5, []) == 5
    assert jobs_left_this_week(5, [1, 2]) == 2
    assert jobs_left_this_week(5, [3, 3]) == 0
    assert jobs_left_this_week(0, []) == 0
    with pytest.raises(ValueError, match="cap"):
        jobs_left_this_week(-1, [])
    with pytest.raises(ValueError, match="counts"):
        jobs_left_this_week(5, [-1])


def test_week_bounds_are_the_members_monday_to_monday():
    start, end = week_bounds(rome(2025, 3, 30, 12, 0), ROME)  # a Sunday, DST day
    assert local(start) == rome(2025, 3, 24, 0, 0)
    assert local(end) == rome(2025, 3, 31, 0, 0)
    assert end - start == timedelta(days=7, hours=-1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        instant_send_time(datetime(2025, 3, 4, 12), ROME, NIGHT)


# --- properties -----------------------------------------------------------------------

ZONES = st.sampled_from(
    [
        "Europe/Rome",
        "Europe/Stockholm",
        "Europe/London",
        "America/New_York",
        "America/Santiago",  # DST changes at midnight
        "Australia/Lord_Howe",  # 30-minute DST shift
        "Asia/Kolkata",
        "Pacific/Apia",  # skipped a whole day in 2011
        "UTC",
    ]
).map(ZoneInfo)
MOMENTS = st.datetimes(
    min_value=datetime(2010, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.just(UTC),
)
WALL = st.times().map(lambda t: t.replace(microsecond=0))
QUIET = (
    st.tuples(st.integers(0, 23 * 60 + 59), st.integers(0, 23 * 60 + 59))
    .filter(lambda pair: pair[0] != pair[1])
    .map(lambda pair: QuietHours(*(time(m // 60, m % 60) for m in pair)))
)


@settings(max_examples=300, deadline=None)
@given(now=MOMENTS, zone=ZONES, quiet=st.none() | QUIET)
def test_instant_is_never_in_the_past_and_never_in_quiet_hours(now, zone, quiet):
    sent = instant_send_time(now, zone, quiet)
    assert sent >= now
    assert sent.utcoffset() == timedelta(0)
    assert not in_quiet_hours(sent, zone, quiet)
    assert sent - now <= timedelta(hours=26)


@settings(max_examples=300, deadline=None)
@given(now=MOMENTS, zone=ZONES, quiet=QUIET, fraction=st.floats(0, 1, exclude_max=True))
def test_instant_waits_no_longer_than_the_quiet_hours_last(now, zone, quiet, fraction):
    sent = instant_send_time(now, zone, quiet)
    # Every moment between now and the send time is still inside quiet hours.
    between = now + (sent - now) * fraction
    if between < sent:
        assert in_quiet_hours(between, zone, quiet)


@settings(max_examples=300, deadline=None)
@given(now=MOMENTS, zone=ZONES, at=WALL, quiet=st.none() | QUIET)
def test_daily_digest_is_future_within_a_day_and_not_in_quiet_hours(now, zone, at, quiet):
    slot = next_daily_digest(now, zone, at, quiet)
    assert slot > now
    assert not in_quiet_hours(slot, zone, quiet)
    if quiet is None:
        assert slot - now <= timedelta(hours=50)  # a skipped day (Apia 2011) is the worst case
        # At the chosen local time, unless a DST gap skipped it: then at the jump.
        jumped = (slot - timedelta(seconds=1)).astimezone(zone).utcoffset() != slot.astimezone(
            zone
        ).utcoffset()
        assert slot.astimezone(zone).time() == at or jumped


@settings(max_examples=300, deadline=None)
@given(now=MOMENTS, zone=ZONES, weekday=st.integers(0, 6), at=WALL)
def test_weekly_digest_is_future_within_a_week_on_that_weekday(now, zone, weekday, at):
    slot = next_weekly_digest(now, zone, weekday, at)
    assert slot > now
    assert slot - now <= timedelta(days=8)
    assert slot.astimezone(zone).weekday() == weekday or zone.key == "Pacific/Apia"


@settings(max_examples=200, deadline=None)
@given(now=MOMENTS, zone=ZONES)
def test_week_bounds_contain_now(now, zone):
    start, end = week_bounds(now, zone)
    assert start <= now < end
    assert start.astimezone(zone).weekday() == 0


@given(cap=st.integers(0, 50), counts=st.lists(st.integers(0, 20), max_size=10))
def test_cap_is_never_exceeded(cap, counts):
    left = jobs_left_this_week(cap, counts)
    assert 0 <= left <= cap
    assert sum(counts) + left <= max(cap, sum(counts))
