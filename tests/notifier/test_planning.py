"""The sender's decisions, with plain values instead of a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.notifier.planning import (
    MEMBER_WAIT,
    Facts,
    Pending,
    Prefs,
    due_at,
    expired,
    parse_pause,
    plan,
)
from services.notifier.sender import address_hash

NOW = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)  # 12:00 in Rome
ROME = ZoneInfo("Europe/Rome")


def prefs(**kw) -> Prefs:
    values: dict[str, Any] = {
        "member_id": "m1",
        "link_id": uuid.uuid4(),
        "opted_in": True,
        "unsubscribed": False,
        "language": "it",
        "timezone": "Europe/Rome",
        "frequency": "instant",
        "quiet_hours": (),
        "paused_until": None,
        "sealed_contact": "sealed",
    }
    values.update(kw)
    return Prefs(**values)


def pending(posting: str, score: float = 0.5, age: timedelta = timedelta(0), **kw) -> Pending:
    return Pending(uuid.uuid4(), posting, score, NOW - age, **kw)


def test_instant_member_gets_one_email_per_job_now():
    items = [pending("p1", 0.9), pending("p2", 0.7)]
    result = plan(prefs(), items, Facts(), now=NOW, weekly_cap=10)
    assert [e.kind for e in result.emails] == ["instant", "instant"]
    assert [e.jobs[0].posting_id for e in result.emails] == ["p1", "p2"]
    assert due_at(prefs(), NOW) == NOW


def test_quiet_hours_defer_to_their_end_in_the_members_zone():
    quiet = prefs(quiet_hours=("11:00", "14:30"))
    assert due_at(quiet, NOW).astimezone(ROME).strftime("%H:%M") == "14:30"


def test_digest_members_wait_for_their_slot_and_get_best_first():
    daily = prefs(frequency="daily")
    assert due_at(daily, NOW).astimezone(ROME) == datetime(2025, 3, 5, 8, 0, tzinfo=ROME)
    weekly = prefs(frequency="weekly")
    assert due_at(weekly, NOW).astimezone(ROME) == datetime(2025, 3, 10, 8, 0, tzinfo=ROME)
    items = [pending("p1", 0.4), pending("p2", 0.95), pending("p3", 0.7)]
    (email,) = plan(daily, items, Facts(), now=NOW, weekly_cap=10).emails
    assert email.kind == "daily"
    assert [j.posting_id for j in email.jobs] == ["p2", "p3", "p1"]


def test_the_weekly_cap_keeps_the_best_and_cancels_the_rest():
    items = [pending("p1", 0.4), pending("p2", 0.95), pending("p3", 0.7)]
    result = plan(prefs(frequency="weekly"), items, Facts(jobs_this_week=8), now=NOW, weekly_cap=10)
    assert [j.posting_id for j in result.emails[0].jobs] == ["p2", "p3"]
    assert list(result.cancel.values()) == ["weekly cap"]
    spent = plan(prefs(), items, Facts(jobs_this_week=10), now=NOW, weekly_cap=10)
    assert not spent.emails and len(spent.cancel) == 3


def test_each_job_is_rechecked_before_it_goes():
    items = [
        closed := pending("closed"),
        sent := pending("sent"),
        nope := pending("nope"),
        old := pending("old", valid_through="2025-03-01"),
        best := pending("dup", 0.9),
        dup := pending("dup", 0.5),
        ok := pending("ok"),
    ]
    facts = Facts(
        closed_postings=frozenset({"closed"}),
        sent_postings=frozenset({"sent"}),
        not_for_me=frozenset({"nope"}),
    )
    result = plan(prefs(), items, facts, now=NOW, weekly_cap=10)
    assert result.cancel == {
        closed.id: "posting closed",
        sent.id: "already sent",
        nope.id: "not for me",
        old.id: "posting expired",
        dup.id: "duplicate match",
    }
    assert sorted(e.jobs[0].id for e in result.emails) == sorted([best.id, ok.id])


@pytest.mark.parametrize(
    ("member", "facts", "reason"),
    [
        (prefs(opted_in=False), Facts(), "opted out"),
        (prefs(unsubscribed=True), Facts(), "opted out"),
        (prefs(sealed_contact=None), Facts(), "no address"),
        (prefs(), Facts(address_suppressed=True), "address suppressed"),
    ],
)
def test_nothing_goes_to_a_member_who_cannot_receive(member, facts, reason):
    items = [pending("p1"), pending("p2")]
    result = plan(member, items, facts, now=NOW, weekly_cap=10)
    assert not result.emails
    assert set(result.cancel.values()) == {reason}


def test_a_pause_defers_to_the_first_slot_after_it():
    until = NOW + timedelta(days=3)
    result = plan(prefs(paused_until=until), [p := pending("p1")], Facts(), now=NOW, weekly_cap=9)
    assert result.defer == {p.id: until}
    assert not result.emails


def test_a_match_ahead_of_its_member_waits_then_gives_up():
    fresh, stale = pending("p1"), pending("p2", age=timedelta(days=2))
    result = plan(None, [fresh, stale], Facts(), now=NOW, weekly_cap=10)
    assert result.defer == {fresh.id: NOW + MEMBER_WAIT}
    assert result.cancel == {stale.id: "unknown member"}


def test_pause_and_closing_dates_parse_leniently():
    assert parse_pause("2025-04-01", "Europe/Rome") == datetime(2025, 3, 31, 22, 0, tzinfo=UTC)
    assert parse_pause("2025-04-01T09:00:00Z", "Europe/Rome") == datetime(
        2025, 4, 1, 9, 0, tzinfo=UTC
    )
    assert parse_pause("soon", "Europe/Rome") is None
    assert expired("2025-03-01", NOW)
    assert not expired("2025-03-04", NOW)
    assert not expired("whenever", NOW)


def test_the_suppression_hash_is_keyed_and_normalised():
    secret = "s" * 40
    assert address_hash(secret, "Giulia@Example.it ") == address_hash(secret, "giulia@example.it")
    assert address_hash(secret, "giulia@example.it") != address_hash("t" * 40, "giulia@example.it")
    assert b"giulia" not in address_hash(secret, "giulia@example.it")
