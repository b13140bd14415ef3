"""A member the index cannot take is held in quarantine; every other member
is indexed. Its stored profile no longer decodes (a field from a newer
contract): before, the whole index build failed on it, and every message
that syncs the index with it."""

from __future__ import annotations

import pytest

from services.matcher import queries
from services.matcher.live import INDEX_TASK, LiveIndex
from shared import quarantine
from tests.matcher.factories import member

pytestmark = pytest.mark.real


async def test_a_member_the_index_cannot_take_is_held_and_the_others_are_indexed(pool):
    good = [member(member_id=f"m-{i}", desired_roles=("Executive Assistant",)) for i in range(3)]
    bad = member(member_id="m-bad", desired_roles=("Executive Assistant",))
    async with pool.acquire() as conn:
        for m in [*good, bad]:
            await queries.upsert_member(conn, m)
        # The stored profile as a newer version of the contract would leave it.
        await conn.execute(
            "UPDATE matcher.members"
            " SET profile = profile || jsonb_build_object('from_the_future', 1)"
            " WHERE member_id = 'm-bad'"
        )

    live = LiveIndex()
    await live.load(pool)
    assert live.loaded
    assert len(live.index) == len(good)
    assert live.index.get("m-bad") is None
    async with pool.acquire() as conn:
        (held,) = await quarantine.listing(conn)
    assert (held.service, held.task, held.record_id, held.reason) == (
        "matcher",
        INDEX_TASK,
        "m-bad",
        "ContractError",
    )

    # Another message syncs the index: the held member is not tried again.
    async with pool.acquire() as conn, conn.transaction():
        await live.lock_and_sync(conn)
    async with pool.acquire() as conn:
        assert (await quarantine.listing(conn))[0].failures == 1

    # The operator repairs the row in place, then hands the member back.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE matcher.members SET profile = $1::jsonb WHERE member_id = 'm-bad'",
            queries.member_profile(bad),
        )
        assert await quarantine.release(conn, held.id)
    async with pool.acquire() as conn, conn.transaction():
        await live.lock_and_sync(conn)
    assert live.index.get("m-bad") is not None
    assert len(live.index) == len(good) + 1
    async with pool.acquire() as conn:
        assert await quarantine.listing(conn) == []


async def test_a_hold_from_an_earlier_process_is_cleared_once_the_member_indexes(pool):
    ok = member(member_id="m-ok", desired_roles=("Executive Assistant",))
    async with pool.acquire() as conn:
        await queries.upsert_member(conn, ok)
        await quarantine.hold(conn, "matcher", INDEX_TASK, "m-ok", "ContractError")
    live = LiveIndex()
    await live.load(pool)
    assert live.index.get("m-ok") is not None
    async with pool.acquire() as conn:
        assert await quarantine.held_ids(conn, INDEX_TASK) == set()
