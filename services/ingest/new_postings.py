"""Group commit for the common webhook: a new posting under a new webhook-id.

Deliveries that arrive while a statement is in flight wait for it and then go
together in the next one (``ingest.accept_new_postings``, migration 005): one
round trip and one commit for all of them. No delivery waits for a timer: a
lone one goes at once, in a batch of one. Each still gets its answer only
after its own rows are committed, so acceptance stays durable.

Tenants stay apart: when the grouped statement fails because of a row (one
company's delivery the database refuses), the batch is written again one
delivery at a time, and only the one that fails on its own hears of it.
An unreachable database is nobody's fault and fails the batch at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import UNAVAILABLE, Pool

MAX_BATCH = 64

_MANY = "SELECT ingest.accept_new_postings($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
_ONE = "SELECT ingest.accept_new_posting($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


@dataclass(frozen=True, slots=True)
class NewPosting:
    """The arguments of ``ingest.accept_new_posting``, in its order."""

    posting_id: Any
    company_id: Any
    external_id: str
    status: str
    data: dict[str, Any]
    source_time: datetime
    webhook_id: str
    response: dict[str, Any]
    event_id: str | None
    routing_key: str | None
    body: bytes | None

    def args(self) -> tuple[Any, ...]:
        return (
            self.posting_id,
            self.company_id,
            self.external_id,
            self.status,
            self.data,
            self.source_time,
            self.webhook_id,
            self.response,
            self.event_id,
            self.routing_key,
            self.body,
        )


class NewPostings:
    """Answers, per delivery: True (stored, with its event), False (the posting
    exists: decide in a transaction) or None (the webhook-id was delivered
    before: replay the first answer)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._waiting: list[tuple[NewPosting, asyncio.Future[bool | None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.statements = 0  # batches written, for tests and curiosity

    async def accept(self, row: NewPosting) -> bool | None:
        future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        # The writer ends, in the same step, when it finds the queue empty:
        # a writer that is not done will still see this delivery.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                answers = await self._write([row for row, _ in batch])
            except BaseException as exc:  # every delivery of the batch hears of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # a cancelled request: its rows stand
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def _write(self, rows: list[NewPosting]) -> list[bool | Exception | None]:
        # One lock order for every batch (postings by company and external id),
        # so two processes' batches cannot deadlock on the same postings.
        order = sorted(
            range(len(rows)), key=lambda i: (str(rows[i].company_id), rows[i].external_id)
        )
        ordered = [rows[i] for i in order]
        try:
            columns = [
                list(column) for column in zip(*(row.args() for row in ordered), strict=True)
            ]
            self.statements += 1
            answers: list[bool | Exception | None] = list(await self.pool.fetchval(_MANY, *columns))
        except UNAVAILABLE:
            raise
        except Exception:
            # Nothing was written (one statement, one transaction). A
            # webhook-id seen before, or a row the database refuses, is in
            # the batch: each on its own, so only that one is told so.
            answers = [await self._write_one(row) for row in ordered]
        out: list[bool | Exception | None] = [None] * len(rows)
        for position, answer in zip(order, answers, strict=True):
            out[position] = answer
        return out

    async def _write_one(self, row: NewPosting) -> bool | Exception | None:
        """The answer for one delivery, or the exception that is its alone."""
        try:
            return bool(await self.pool.fetchval(_ONE, *row.args()))
        except asyncpg.UniqueViolationError:
            return None
        except UNAVAILABLE:
            raise
        except Exception as exc:
            return exc
