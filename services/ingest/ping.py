"""A harmless event through the whole path (outbox, relay, exchange, consumers):
the smoke test an operator or the demo runs to see the pipeline move."""

from __future__ import annotations

import uuid

from services.ingest.service import SCHEMA
from shared.db import Pool
from shared.events import Envelope, Ping
from shared.outbox import enqueue


async def send_pings(pool: Pool, count: int, note: str = "") -> list[str]:
    ids: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(count):
            envelope = Envelope.wrap(Ping(ping_id=str(uuid.uuid4()), note=note), source="/ingest")
            await enqueue(conn, SCHEMA, envelope)
            ids.append(envelope.id)
    return ids
