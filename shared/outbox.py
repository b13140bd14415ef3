"""Transactional outbox: events are written with the change that caused them, in
one transaction, and a relay publishes them afterwards with publisher confirms.

A service's ``outbox`` table lives in its own schema; an insert trigger sends
``NOTIFY <schema>_outbox`` (delivered at commit), which wakes the relay at once.
A slow poll remains as a safety net for a lost LISTEN connection.

The relay marks a row published only after the broker confirmed it. A crash in
between publishes the row again on restart: consumers are idempotent on the
event id, so at-least-once here is exactly-once in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from shared import logs, metrics
from shared.db import UNAVAILABLE, Connection, Pool
from shared.events import Envelope
from shared.publisher import Outgoing, Publisher
from shared.topology import routing_key

log = logs.get_logger(__name__)

BATCH = 200
SAFETY_POLL_S = 2.0
# The depth and age on /metrics are refreshed at most this often: a busy relay
# wakes hundreds of times a second, and a scrape comes every few seconds.
MEASURE_EVERY_S = 1.0
KEEP_PUBLISHED = "1 day"


async def enqueue(conn: Connection, schema: str, envelope: Envelope) -> None:
    """Add an event to the schema's outbox, inside the caller's transaction."""
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, routing_key, body) VALUES ($1, $2, $3)",  # noqa: S608 - schema is ours
        envelope.id,
        routing_key(envelope),
        envelope.encode(),
    )


async def enqueue_many(conn: Connection, schema: str, envelopes: Sequence[Envelope]) -> None:
    """``enqueue`` for many events in one statement (an import writes them by
    the thousand); published in the order given."""
    if not envelopes:
        return
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, routing_key, body)"  # noqa: S608 - schema is ours
        " SELECT e, k, b FROM unnest($1::text[], $2::text[], $3::bytea[])"
        " WITH ORDINALITY AS u(e, k, b, n) ORDER BY n",
        [e.id for e in envelopes],
        [routing_key(e) for e in envelopes],
        [e.encode() for e in envelopes],
    )


class OutboxRelay:
    def __init__(
        self,
        *,
        pool: Pool,
        schema: str,
        publisher: Publisher,
        safety_poll_s: float = SAFETY_POLL_S,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.publisher = publisher
        self.safety_poll_s = safety_poll_s
        self.published = 0
        # Set while the relay waits for a notification (or its safety poll):
        # a test knows the relay is idle without sleeping on a guess.
        self.waiting = asyncio.Event()
        self._wake = asyncio.Event()
        self._listener: PoolConnectionProxy[Record] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        pause = 0.2
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        last_measure = -MEASURE_EVERY_S
        while not stop.is_set():
            try:
                await self._ensure_listening()
                self._wake.clear()
                # A short batch emptied the outbox as of its query; a row
                # committed since then has woken us again (the wake-up was
                # cleared before the query), so no empty query to make sure.
                while await self.drain_once() >= BATCH:
                    pass
                if loop.time() - last_measure >= MEASURE_EVERY_S:
                    await self.measure()
                    last_measure = loop.time()
                if loop.time() - last_purge > 600:
                    await self._purge()
                    last_purge = loop.time()
                pause = 0.2
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                self.waiting.set()
                try:
                    await asyncio.wait(
                        {waiter, stopper},
                        timeout=self.safety_poll_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    self.waiting.clear()
                    waiter.cancel()
                    stopper.cancel()
            except Exception as exc:
                # Broker or database away: the rows stay in the outbox until
                # both are back; nothing is lost by waiting.
                log.warning("outbox relay waiting", error=type(exc).__name__, pause_s=pause)
                await self._close_listener()
                await self.measure()  # a stuck outbox is when its age matters most
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 5.0)
        await self._close_listener()

    async def drain_once(self) -> int:
        """Publish one batch; return how many rows were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Marked published and read in one statement; the mark commits
            # only after the broker's confirms, and is taken back from any row
            # it did not confirm. (now() is the transaction's start either way.)
            claimed = await conn.fetch(
                f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id IN ("  # noqa: S608 - schema is ours
                f" SELECT id FROM {self.schema}.outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
                " RETURNING id, event_id::text, routing_key, body",
                BATCH,
            )
            if not claimed:
                return 0
            rows = sorted(claimed, key=lambda row: row["id"])  # RETURNING keeps no order
            # The whole batch in one write to the broker, its confirms awaited
            # together. A row whose publish failed stays unpublished and goes
            # again next time, after later ones: consumers are idempotent and
            # revision-aware, as they must be anyway (retries reorder
            # deliveries too). If the publish raises, nothing is marked.
            outcomes = await self.publisher.publish_many(
                [Outgoing(bytes(row["body"]), row["event_id"], row["routing_key"]) for row in rows]
            )
            failed = next((o for o in outcomes if o is not None), None)
            if failed is not None:
                await conn.execute(
                    f"UPDATE {self.schema}.outbox SET published_at = NULL WHERE id = ANY($1)",  # noqa: S608
                    [row["id"] for row, o in zip(rows, outcomes, strict=True) if o is not None],
                )
            done = sum(o is None for o in outcomes)
        self.published += done
        metrics.observe_published(self.schema, done)
        log.debug("outbox published", count=done)
        if failed is not None:
            raise failed
        return done

    async def measure(self) -> None:
        """Outbox depth and oldest age for /metrics: one query on the partial
        index of unpublished rows. Never fails the relay."""
        try:
            row = await self.pool.fetchrow(
                f"SELECT count(*) AS depth, coalesce((SELECT extract(epoch FROM now() - created_at)"  # noqa: S608 - schema is ours
                f" FROM {self.schema}.outbox WHERE published_at IS NULL ORDER BY id LIMIT 1), 0)"
                f"::float8 AS age FROM {self.schema}.outbox WHERE published_at IS NULL"
            )
        except Exception as exc:
            log.debug("outbox not measured", error=type(exc).__name__)
            return
        if row is not None:
            metrics.set_outbox(self.schema, int(row["depth"]), float(row["age"]))

    async def _ensure_listening(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(f"{self.schema}_outbox", self._notified)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        if self._listener is None:
            return
        listener, self._listener = self._listener, None
        with contextlib.suppress(Exception):
            await listener.remove_listener(f"{self.schema}_outbox", self._notified)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    async def _purge(self) -> None:
        with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
            await self.pool.execute(
                f"DELETE FROM {self.schema}.outbox WHERE published_at < now() - $1::interval",  # noqa: S608
                KEEP_PUBLISHED,
            )
