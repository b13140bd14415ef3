"""Companies' records (disabled or not, live secrets opened) reused between
webhooks, kept right by the database rather than by a timer.

- Every change to a company or its secrets is announced on
  ``ingest_company_changed`` (migration 007); the entry is dropped when the
  notification arrives, so a disable or a rotation counts from the next
  request. While the listening connection is down, nothing is reused.
- A signature that matches none of the cached secrets is checked once more
  against the database's: a secret rotated a moment ago works at once.
- Only companies that exist are kept, and at most ``MAX_ENTRIES`` of them: a
  caller trying random ids fills nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from typing import Any

from services.ingest import queries
from shared import logs
from shared.db import Pool
from shared.sealing import Sealer, sealer_for
from shared.service import Runtime

log = logs.get_logger(__name__)

CHANNEL = "ingest_company_changed"
MAX_ENTRIES = 10_000
# A safety net only (a notification lost with its connection is the case the
# listener's reconnection already covers by clearing everything).
TTL_S = 60.0

Entry = tuple[queries.Company, list[str]]
_EXTRA = "company_cache"


class CompanyCache:
    def __init__(self, pool: Pool, sealer: Sealer) -> None:
        self.pool = pool
        self.sealer = sealer
        self._entries: OrderedDict[uuid.UUID, tuple[float, Entry]] = OrderedDict()
        self._listening = False
        self.reads = 0  # database reads, for tests

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    @property
    def listening(self) -> bool:
        return self._listening

    async def get(
        self, company_id: uuid.UUID, *, fresh: bool = False
    ) -> tuple[queries.Company | None, list[str]]:
        """The company and its live secrets, opened (raises SealError)."""
        cached = self._entries.get(company_id)
        if (
            cached is not None
            and not fresh
            and self._listening
            and time.monotonic() - cached[0] < TTL_S
        ):
            self._entries.move_to_end(company_id)
            return cached[1]
        async with self.pool.acquire() as conn:
            found = await queries.company(conn, company_id)
        self.reads += 1
        if found is None:
            self._entries.pop(company_id, None)
            return None, []
        secrets = [self.sealer.open(s)["secret"] for s in found.sealed_secrets]
        if self._listening:
            self._entries[company_id] = (time.monotonic(), (found, secrets))
            self._entries.move_to_end(company_id)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return found, secrets

    def _changed(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            self._entries.pop(uuid.UUID(str(payload)), None)

    async def listen(self, stop: asyncio.Event) -> None:
        """Hold a LISTEN connection until ``stop``; reconnect when it drops,
        reusing nothing in between."""
        pause = 0.5
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    lost = asyncio.Event()
                    conn.add_termination_listener(lambda _, lost=lost: lost.set())
                    await conn.add_listener(CHANNEL, self._changed)
                    self._listening = True
                    pause = 0.5
                    try:
                        waits = [asyncio.ensure_future(e.wait()) for e in (stop, lost)]
                        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                        for waiting in waits:
                            waiting.cancel()
                    finally:
                        self._listening = False
                        self._entries.clear()
                        if not conn.is_closed():
                            with contextlib.suppress(Exception):
                                await conn.remove_listener(CHANNEL, self._changed)
            except Exception as exc:
                self._listening = False
                self._entries.clear()
                log.warning("company cache not listening", error=type(exc).__name__, pause_s=pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, 5.0)


def for_runtime(runtime: Runtime) -> CompanyCache:
    """The process's one cache: the webhook views read it, and the supervised
    ``run`` job below keeps it right."""
    found = runtime.extras.get(_EXTRA)
    if not isinstance(found, CompanyCache):
        found = CompanyCache(runtime.pool, sealer_for(runtime.settings.secret_keys))
        runtime.extras[_EXTRA] = found
    return found


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """A background job of ingest (``shared.supervisor`` runs it as
    ``company_cache``): without it every webhook would read the database."""
    await for_runtime(runtime).listen(stop)
