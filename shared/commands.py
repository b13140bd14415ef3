"""What every ``passaparola`` command shares: named errors with exit codes,
and the servers a one-off command talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aio_pika

from shared import db
from shared.settings import Settings

EXIT_USAGE = 2
EXIT_DATA = 65  # EX_DATAERR: the input is wrong
EXIT_NOINPUT = 66  # EX_NOINPUT: an input file is missing or unreadable
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a server the command needs is down
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: nothing is wrong, but not now (a reshard while matchers run)

_DB_DOWN: tuple[type[BaseException], ...] = (OSError, *db.UNAVAILABLE)


class CliError(Exception):
    """A failure the person at the terminal can act on: named, with an exit code."""

    def __init__(self, name: str, message: str, code: int) -> None:
        super().__init__(message)
        self.name = name
        self.code = code


async def with_pool(settings: Settings, work: Callable[[db.Pool], Awaitable[int]]) -> int:
    try:
        pool = await db.create_pool(settings, name="cli")
    except _DB_DOWN as exc:
        raise CliError(
            "DatabaseUnavailable",
            f"cannot reach the database ({type(exc).__name__})",
            EXIT_UNAVAILABLE,
        ) from None
    try:
        return await work(pool)
    finally:
        await pool.close()


async def with_broker(
    settings: Settings, work: Callable[[aio_pika.abc.AbstractConnection], Awaitable[int]]
) -> int:
    try:
        connection = await aio_pika.connect(
            settings.amqp_url, client_properties={"connection_name": "passaparola-cli"}
        )
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise CliError(
            "BrokerUnavailable", f"cannot reach RabbitMQ ({type(exc).__name__})", EXIT_UNAVAILABLE
        ) from None
    try:
        return await work(connection)
    finally:
        await connection.close()
