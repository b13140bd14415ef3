"""Retention: each service purges its own old rows on a schedule.

A service hands ``scheduled`` a ``purge(conn, settings) -> {table: rows}``
that deletes, in its own schema only, what the retention settings say has
been kept long enough (closed postings, old matches, delivery logs). The job
runs once shortly after start, then every ``PASSAPAROLA_RETENTION_INTERVAL_S``;
replicas may run it at once (deletes are idempotent).

A purge the database refuses for a reason of its own (not a server away) is
held in ``shared.quarantine`` as the record ``purge`` of the service, so it
shows in ``passaparola quarantine list``, on /metrics and as an alert; it is
tried again at each interval and the hold is cleared when one succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from shared import logs, metrics, quarantine
from shared.db import Connection
from shared.settings import Settings

log = logs.get_logger(__name__)

Purge = Callable[[Connection, Settings], Awaitable[dict[str, int]]]
FIRST_RUN_S = 30.0
TASK = "retention"
PURGE_RECORD = "purge"  # the unit of work: one set-based purge per service


def deleted(status: str) -> int:
    """Rows affected, from asyncpg's status string (``DELETE 3``)."""
    try:
        return int(status.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return 0


def scheduled(purge: Purge) -> Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]]:
    """A ``ServiceSpec.background`` job running ``purge`` periodically."""

    async def run(runtime: Any, stop: asyncio.Event) -> None:
        settings: Settings = runtime.settings
        wait = min(FIRST_RUN_S, float(settings.retention_interval_s))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if stop.is_set():
                return
            wait = float(settings.retention_interval_s)
            try:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    counts = await purge(conn, settings)
            except quarantine.TRANSIENT as exc:
                log.warning("retention purge postponed", error=type(exc).__name__)
                continue
            except asyncpg.PostgresError as exc:
                # The database refused the purge itself (a constraint, a lock
                # timeout): held in quarantine so an operator sees it, and
                # tried again at the next interval all the same.
                async with runtime.pool.acquire() as conn:
                    await quarantine.hold(
                        conn, runtime.name, TASK, PURGE_RECORD, type(exc).__name__
                    )
                metrics.observe_quarantined(TASK)
                log.error("retention purge failed", error=type(exc).__name__)
                continue
            async with runtime.pool.acquire() as conn:
                await quarantine.clear(conn, TASK, PURGE_RECORD, runtime.name)
            if any(counts.values()):
                log.info("retention purge", **{k: v for k, v in counts.items() if v})

    run.task_name = TASK  # type: ignore[attr-defined]
    return run
