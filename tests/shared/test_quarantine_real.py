"""The quarantine table and the tasks that hold records in it, on the real
database: a record that fails is held with its error's class and not its
message; a server away is the task's problem, not the record's; a retention
purge the database refuses is held and cleared once a purge succeeds."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from types import SimpleNamespace

import asyncpg
import pytest

from shared import quarantine
from shared.retention import scheduled
from tests.helpers import eventually

pytestmark = pytest.mark.real


async def test_a_failing_record_is_held_with_its_class_and_the_next_one_goes_on(pool):
    done: list[str] = []

    async def work(record: str) -> str:
        if record == "bad":
            raise ValueError("Maria Rossi <maria@example.org> cannot be planned")
        done.append(record)
        return record

    results = [
        await quarantine.isolated(pool, "probe", "probe_task", r, functools.partial(work, r))
        for r in ("a", "bad", "b")
    ]
    assert results == ["a", None, "b"]
    assert done == ["a", "b"]
    async with pool.acquire() as conn:
        (held,) = await quarantine.listing(conn)
        assert (held.service, held.task, held.record_id, held.reason, held.failures) == (
            "probe",
            "probe_task",
            "bad",
            "ValueError",
            1,
        )
        assert await quarantine.held_ids(conn, "probe_task") == {"bad"}
        assert await quarantine.count_held(conn, "probe") == {"probe_task": 1}
        # An operator's retry hands it back; failing again holds it again.
        assert await quarantine.release(conn, held.id)
        assert not await quarantine.release(conn, held.id)
        assert await quarantine.held_ids(conn, "probe_task") == set()
    await quarantine.isolated(pool, "probe", "probe_task", "bad", lambda: work("bad"))
    async with pool.acquire() as conn:
        (again,) = await quarantine.listing(conn)
        assert (again.id, again.failures, again.released_at) == (held.id, 2, None)
        assert len(await quarantine.listing(conn, include_released=True)) == 1
    text = repr(await pool.fetch("SELECT * FROM shared.quarantine"))
    assert "Maria" not in text and "example.org" not in text


async def test_a_server_away_is_raised_to_the_task_not_held(pool):
    async def work() -> None:
        raise ConnectionRefusedError("the database is away")

    with pytest.raises(ConnectionRefusedError):
        await quarantine.isolated(pool, "probe", "probe_task", "r1", work)
    assert await pool.fetchval("SELECT count(*) FROM shared.quarantine") == 0


async def test_a_purge_the_database_refuses_is_held_then_cleared(pool, settings):
    attempts: list[int] = []

    async def purge(conn, _settings) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            await conn.execute("SELECT 1 / 0")  # refused by the database itself
        return {"nothing": 0}

    runtime = SimpleNamespace(
        name="probe", pool=pool, settings=dataclasses.replace(settings, retention_interval_s=10)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(scheduled(purge)(runtime, stop))

    async def held() -> bool:
        async with pool.acquire() as conn:
            return await quarantine.count_held(conn, "probe") == {"retention": 1}

    try:
        await eventually(held, timeout=60, what="the refused purge held")
        async with pool.acquire() as conn:
            (row,) = await quarantine.listing(conn)
        assert (row.task, row.record_id, row.reason) == (
            "retention",
            "purge",
            asyncpg.DivisionByZeroError.__name__,
        )

        async def cleared() -> bool:
            async with pool.acquire() as conn:
                return len(attempts) >= 2 and await quarantine.count_held(conn, "probe") == {}

        await eventually(cleared, timeout=60, what="the hold cleared by a purge that worked")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
