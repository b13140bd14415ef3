"""Quarantine: a record that makes a background task fail is set aside, with
its reason, so the task keeps going with the others.

A task handles its records one at a time inside ``isolated``: an error that
says a server is away (the database, the broker) is the task's, not the
record's, and goes up to the supervisor; any other error holds the record in
``shared.quarantine`` with the error's class as the reason (never its
message, which can quote personal data). The task leaves held records out of
its next rounds (``held_ids``, or a ``NOT EXISTS`` on the table in its own
query). An operator sees them with ``passaparola quarantine list`` (and the
console), and ``passaparola quarantine retry`` releases one: the task takes
it again on its next round, and holds it again if it fails again.

The table is common to every service (``shared/migrations``); delivery rows
(emails, referrals, forwards) have their own failed state instead, kept by
the delivery runner. docs/reliability.md lists which task uses which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from shared import logs, metrics
from shared.db import UNAVAILABLE, Connection, Pool

log = logs.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SERVICE = "shared"  # the migrations' name in the ledger

T = TypeVar("T")

# Errors that say a server is away, not that the record is bad.
TRANSIENT: tuple[type[BaseException], ...] = (OSError, *UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class Held:
    id: int
    service: str
    task: str
    record_id: str
    reason: str
    failures: int
    first_failed_at: datetime
    last_failed_at: datetime
    released_at: datetime | None


async def hold(conn: Connection, service: str, task: str, record_id: str, reason: str) -> None:
    """Set ``record_id`` aside for ``task`` (again, if it was released)."""
    await conn.execute(
        "INSERT INTO shared.quarantine (service, task, record_id, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (service, task, record_id) DO UPDATE SET reason = EXCLUDED.reason,"
        " failures = shared.quarantine.failures + 1, last_failed_at = now(), released_at = NULL",
        service,
        task,
        record_id,
        reason,
    )


async def clear(conn: Connection, task: str, record_id: str, service: str) -> None:
    """The record went through after all (a task that retries by itself)."""
    await conn.execute(
        "UPDATE shared.quarantine SET released_at = now()"
        " WHERE task = $1 AND record_id = $2 AND service = $3 AND released_at IS NULL",
        task,
        record_id,
        service,
    )


async def held_ids(conn: Connection, task: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT record_id FROM shared.quarantine WHERE task = $1 AND released_at IS NULL", task
    )
    return {r["record_id"] for r in rows}


async def listing(conn: Connection, *, include_released: bool = False) -> list[Held]:
    rows = await conn.fetch(
        "SELECT id, service, task, record_id, reason, failures, first_failed_at,"
        " last_failed_at, released_at FROM shared.quarantine"
        " WHERE $1 OR released_at IS NULL ORDER BY last_failed_at DESC, id DESC",
        include_released,
    )
    return [Held(**dict(r)) for r in rows]


async def release(conn: Connection, held_id: int) -> bool:
    """An operator's retry: the task takes the record again on its next round."""
    status = await conn.execute(
        "UPDATE shared.quarantine SET released_at = now() WHERE id = $1 AND released_at IS NULL",
        held_id,
    )
    return status.endswith(" 1")


async def count_held(conn: Connection, service: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT task, count(*) AS n FROM shared.quarantine"
        " WHERE service = $1 AND released_at IS NULL GROUP BY task",
        service,
    )
    return {r["task"]: int(r["n"]) for r in rows}


async def isolated(
    pool: Pool,
    service: str,
    task: str,
    record_id: str,
    work: Callable[[], Awaitable[T]],
) -> T | None:
    """``work()``, or None after holding ``record_id`` if it failed for a
    reason of its own. A server being away is raised, for the task to wait."""
    try:
        return await work()
    except TRANSIENT:
        raise
    except Exception as exc:
        reason = type(exc).__name__
        async with pool.acquire() as conn:
            await hold(conn, service, task, record_id, reason)
        metrics.observe_quarantined(task)
        log.error("record quarantined", task=task, record_id=record_id, reason=reason)
        return None
