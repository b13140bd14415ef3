"""What counts as "the database is unavailable": the exceptions a dropped or
refused connection really raises, so that callers wait (the consumer holds the
message, ingest answers 503) instead of failing (a retry spent, a 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import asyncpg
import pytest

from shared.db import UNAVAILABLE


async def _error_of(attempt: Awaitable[object]) -> BaseException:
    try:
        await attempt
    except BaseException as exc:
        return exc
    raise AssertionError("the connection was expected to fail")


async def _raised_by(server_action: str) -> BaseException:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server_action == "close":
            await reader.read(100)  # the client's first bytes, then hang up
        writer.transport.abort()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await _error_of(
            asyncpg.connect(f"postgresql://u:p@127.0.0.1:{port}/db", timeout=5, ssl="prefer")
        )
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("action", ["close", "abort"])
async def test_a_connection_dropped_while_it_opens_counts_as_unavailable(action):
    # Found by the chaos suite: asyncpg raises a bare ConnectionError
    # ("unexpected connection_lost() call"), which ingest answered with a 500
    # and the consumer counted as a failed attempt.
    exc = await _raised_by(action)
    assert isinstance(exc, UNAVAILABLE), repr(exc)


async def test_a_refused_connection_counts_as_unavailable():
    exc = await _error_of(asyncpg.connect("postgresql://u:p@127.0.0.1:1/db", timeout=5))
    assert isinstance(exc, UNAVAILABLE), repr(exc)


def test_a_connection_broken_mid_operation_counts_as_unavailable():
    # Found by the chaos suite: after a cut connection, asyncpg reported
    # "cannot switch to state 15; another operation (2) is in progress" on the
    # next use, and ingest answered that webhook with a 500 instead of a 503.
    exc = asyncpg.InternalClientError("cannot switch to state 15; another operation (2)")
    assert isinstance(exc, UNAVAILABLE)
