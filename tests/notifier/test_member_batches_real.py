"""Member changes in batches through the notifier (``handlers.make_batch_handlers``)
on the real PostgreSQL: the same members and schedules as one by one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notifier import queries
from services.notifier.handlers import make_batch_handlers, make_handlers
from shared.db import Pool
from shared.events import Envelope, MatchFound, MemberChanged, MemberErased, Payload

pytestmark = pytest.mark.real

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def wrap(payload: Payload) -> Envelope:
    return Envelope.wrap(payload, source="/tests")


def member(member_id: str, revision: int = 1, **fields: Any) -> MemberChanged:
    base: dict[str, Any] = {
        "member_id": member_id,
        "revision": revision,
        "opted_in": True,
        "language": "it",
        "timezone": "Europe/Rome",
        "frequency": "instant",
    }
    base.update(fields)
    return MemberChanged(**base)


def match(member_id: str, k: int) -> MatchFound:
    return MatchFound(
        match_id=str(uuid.UUID(int=k)),
        posting_id=f"p-{k}",
        member_id=member_id,
        score=0.9,
        explanation={},
        title="Executive Assistant",
        company_name="Acme S.p.A.",
        city="Milano",
        country="IT",
    )


BEFORE = [
    wrap(member("m-1")),
    wrap(member("m-2")),
    wrap(member("m-3")),
    wrap(member("m-5", frequency="daily")),
    wrap(match("m-1", 1)),
    wrap(match("m-2", 2)),
    wrap(match("m-5", 5)),
    wrap(MemberErased(member_id="m-3")),
]

CHANGES = [
    wrap(member("m-1", 2, frequency="weekly")),  # its pending email moves to the digest
    wrap(member("m-1", 1, frequency="daily")),  # older: ignored
    wrap(member("m-2", 2, opted_in=False)),  # opted out: its pending email is cancelled
    wrap(member("m-3", 5)),  # erased: never comes back
    wrap(member("m-4", language="sv")),
    wrap(member("m-4", language="en")),  # the same revision again: the later one stays
    wrap(member("m-5", 2, frequency="daily", quiet_hours=("22:00", "07:30"))),
]


async def snapshot(pool: Pool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    members = await pool.fetch(
        "SELECT member_id, revision, opted_in, language, frequency, quiet_hours,"
        " local_frequency, unsubscribed_at IS NULL FROM notifier.members ORDER BY member_id"
    )
    notifications = await pool.fetch(
        "SELECT match_id, member_id, state, reason, due_at FROM notifier.notifications"
        " ORDER BY match_id"
    )
    return [tuple(r) for r in members], [tuple(r) for r in notifications]


async def apply(pool: Pool, *, batched: bool) -> tuple[list[tuple[Any, ...]], ...]:
    single = make_handlers(clock)
    async with pool.acquire() as conn:
        for event in BEFORE:
            async with conn.transaction():
                await single[event.type](event, conn)
        # A member's own choice on a link, which a change of another field keeps.
        await queries.set_choice(conn, "m-5", local_frequency="weekly")
        if batched:
            async with conn.transaction():
                await make_batch_handlers(clock)[MemberChanged.TYPE](CHANGES, conn)
        else:
            for event in CHANGES:
                async with conn.transaction():
                    await single[event.type](event, conn)
    found = await snapshot(pool)
    await pool.execute(
        "TRUNCATE notifier.members, notifier.notifications, notifier.erased_members CASCADE"
    )
    return found


async def test_a_batch_of_member_changes_ends_as_one_by_one(pool: Pool):
    one_by_one = await apply(pool, batched=False)
    in_a_batch = await apply(pool, batched=True)
    assert in_a_batch == one_by_one
    members, notifications = in_a_batch
    by_id = {m[0]: m for m in members}
    assert set(by_id) == {"m-1", "m-2", "m-4", "m-5"}  # m-3 stays erased
    assert by_id["m-1"][1:5] == (2, True, "it", "weekly")
    assert by_id["m-4"][3] == "en"
    assert by_id["m-5"][6] == "weekly"  # the member's own choice survives
    states = {n[1]: (n[2], n[3]) for n in notifications}
    assert states["m-2"] == ("cancelled", "opted out")
    assert states["m-1"][0] == "pending"
