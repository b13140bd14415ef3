"""The console's audit log: every sign-in and every dead-letter action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection


@dataclass(frozen=True)
class Entry:
    at: datetime
    action: str
    queue: str | None
    message_ids: list[str]
    requested: int | None
    done: int | None
    remote: str | None


async def record(
    conn: Connection,
    action: str,
    *,
    queue: str | None = None,
    message_ids: list[str] | None = None,
    requested: int | None = None,
    done: int | None = None,
    remote: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO console.audit (action, queue, message_ids, requested, done, remote)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        action,
        queue,
        message_ids or [],
        requested,
        done,
        remote,
    )


async def latest(conn: Connection, limit: int = 100) -> list[Entry]:
    rows = await conn.fetch(
        "SELECT at, action, queue, message_ids, requested, done, remote FROM console.audit"
        " ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        Entry(
            r["at"],
            r["action"],
            r["queue"],
            list(r["message_ids"]),
            r["requested"],
            r["done"],
            r["remote"],
        )
        for r in rows
    ]
