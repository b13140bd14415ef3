"""The asyncpg pool every service uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
import orjson
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from shared.settings import Settings

Pool = asyncpg.Pool
# What pool.acquire() hands out; handlers never see a bare connection.
Connection: TypeAlias = "PoolConnectionProxy[Record] | asyncpg.Connection[Record]"

# The database is unreachable or restarting (not: the statement is wrong). The
# same work will succeed once it is back, so callers wait instead of giving up.
# ConnectionError covers a refused, reset or aborted connection and a broken
# pipe, and also what asyncpg raises when the server (or the path to it) drops
# a connection while it is being opened ("unexpected connection_lost() call").
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A connection whose session died mid-operation can report this instead
    # (asyncpg issue 784); seen under the chaos suite's cut connections.
    asyncpg.InternalClientError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


def _json_text(value: object) -> str:
    """A parameter as JSON text: orjson where it can (several times faster;
    PostgreSQL's jsonb stores the same value either way), the standard
    library for what orjson declines (an integer past 64 bits, a lone
    surrogate), so a value is refused, or not, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


async def _init(conn: asyncpg.Connection[Record]) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_json_text, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection[Record]) -> None:
    """A release that leaves the session as it is: asyncpg still rolls back an
    open transaction and drops its listeners, but skips the reset query (one
    round trip per release: advisory locks, cursors, LISTEN, settings)."""


async def create_pool(settings: Settings, *, name: str, reset_sessions: bool = True) -> Pool:
    """``reset_sessions=False`` for a service that never leaves session state
    behind (no session advisory lock, SET or cursor outside a transaction)."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=_init,
        reset=None if reset_sessions else _keep_session,
        # The name shows in pg_stat_activity: which service holds a connection.
        server_settings={"application_name": f"passaparola-{name}"},
        command_timeout=30,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    async with pool.acquire() as conn, conn.transaction():
        yield conn
