"""Retention: each service purges its own old rows on a schedule.

A service hands ``scheduled`` a ``purge(conn, settings) -> {table: rows}``
that deletes, in its own schema only, what the retention settings say has
been kept long enough (closed postings, old matches, delivery logs). The job
runs once shortly after start, then every ``PASSAPAROLA_RETENTION_INTERVAL_S``;
replicas may run it at once (deletes are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from shared import logs
from shared.db import UNAVAILABLE, Connection
from shared.settings import Settings

log = logs.get_logger(__name__)

Purge = Callable[[Connection, Settings], Awaitable[dict[str, int]]]
_POSTPONE: tuple[type[BaseException], ...] = (*UNAVAILABLE, asyncpg.PostgresError)
FIRST_RUN_S = 30.0


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
            except _POSTPONE as exc:
                log.warning("retention purge postponed", error=type(exc).__name__)
                continue
            if any(counts.values()):
                log.info("retention purge", **{k: v for k, v in counts.items() if v})

    run.task_name = "retention"  # type: ignore[attr-defined]
    return run
