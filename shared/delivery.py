"""The one delivery runner: everything that leaves the system goes through it.

The counterpart of ``shared/consumer.py`` for outbound side effects (members'
emails and digests, forwards to colleagues, referral callbacks and referral
emails). A kind of delivery is a table with the same columns (``state``,
``attempts``, ``next_attempt_at``, ``leased_until``, ``reason``,
``failing_since``) and a small adapter that loads a row, does the I/O and
records what is particular to it. For each due row the runner:

1. **claims** it: one ``UPDATE`` over a row picked ``FOR UPDATE SKIP LOCKED``
   counts the attempt and sets a lease (``PASSAPAROLA_DELIVERY_LEASE_S``),
   committed at once, so any number of instances share the work and none
   waits on another;
2. **delivers** it outside any transaction (no lock is held across a call to
   someone else's server), bounded by half the lease;
3. **records** the outcome in one transaction, guarded by the attempt number:
   a worker whose lease ran out, and whose row was claimed again, records
   nothing.

Failures are decided here and nowhere else: ``transient`` retries after the
next delay of ``PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS`` and becomes ``failed``
when they are used up; ``permanent`` is ``failed`` at once; an exception the
adapter did not expect quarantines that one row as ``failed`` (its class
name is the reason) and never stops the others. A ``failed`` row stays until
an operator sends it again (``passaparola deliveries retry``).

Exactly once, in effect: a row is marked done only after the other side's
success answer. The one duplicate left possible is a worker dying (or losing
its lease) between that answer and the commit: after the lease the row is
due again and is sent again, with the same id (Message-ID, webhook-id), so
the receiver can tell (docs/reliability.md, "Deliveries").

Reasons and details carry no personal data: fixed texts, status codes,
exception class names and server replies passed through ``logs.scrub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import aiosmtplib

from shared import logs, metrics
from shared.db import UNAVAILABLE, Connection, Pool
from shared.settings import Settings

log = logs.get_logger(__name__)

POLL_S = 0.5
MEASURE_EVERY_S = 15.0
MAX_DETAIL = 300
_DB_DOWN: tuple[type[BaseException], ...] = (OSError, *UNAVAILABLE)


# --- outcomes and the one classification --------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: Literal["done", "transient", "permanent", "cancelled"]
    # A fixed, short text for operators (the row's ``reason``).
    reason: str | None = None
    # A status code: SMTP reply code or HTTP status.
    code: int | None = None
    # The other side's words, scrubbed (an SMTP reply), or an exception's class name.
    detail: str = ""
    # SMTP refused the recipient itself, for good: stop mailing that address.
    address: bool = False


def short(text: object) -> str:
    return logs.scrub(" ".join(str(text).split()))[:MAX_DETAIL]


def classify_smtp(exc: BaseException) -> Outcome:
    """What an SMTP failure means: 5xx is permanent, 4xx and lost connections
    are transient; a recipient refused with 5xx also says "stop mailing it"."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        code = refusals[0].code if refusals else 0
        reply = short(refusals[0].message) if refusals else ""
        if 500 <= code < 600:
            return Outcome("permanent", "smtp refused", code, reply, address=True)
        return Outcome("transient", "smtp deferred", code, reply)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        if 500 <= exc.code < 600:
            return Outcome("permanent", "smtp refused", exc.code, short(exc.message), address=True)
        return Outcome("transient", "smtp deferred", exc.code, short(exc.message))
    # Our own credentials or greeting refused: the server's state, not this message's.
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPHeloError):
        return Outcome("transient", "smtp server refused us", exc.code, short(exc.message))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 500 <= exc.code < 600:
            return Outcome("permanent", "smtp refused", exc.code, short(exc.message))
        return Outcome("transient", "smtp deferred", exc.code, short(exc.message))
    # Connect errors, disconnections, timeouts, OSError: nothing was decided.
    return Outcome("transient", "smtp unreachable", None, type(exc).__name__)


# 4xx answers that say "not now" rather than "never".
_HTTP_LATER = frozenset({408, 409, 425, 429})


def classify_http(status: int) -> Outcome:
    """What an HTTP answer means. 2xx is done; 5xx and the "later" 4xx are
    transient; any other answer (other 4xx, and 3xx: redirects are never
    followed, data with names must not be sent where we did not check) is
    permanent."""
    if 200 <= status < 300:
        return Outcome("done", None, status)
    if status >= 500 or status in _HTTP_LATER:
        return Outcome("transient", f"HTTP {status}", status)
    return Outcome("permanent", f"HTTP {status}", status)


def classify_http_error(exc: BaseException) -> Outcome:
    """No answer at all (refused, reset, timed out): transient."""
    return Outcome("transient", "no answer", None, type(exc).__name__)


HTTP_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


# --- the tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Where one kind of delivery lives. Names come from the code, never from input."""

    # "email", "forward", "referral", "confirmation": the metric label and the CLI's word
    kind: str
    name: str  # schema-qualified table
    key: str  # its primary key column (a uuid)
    due: str  # the state of a row waiting to go
    done: str  # the state after the other side's success answer
    # What a failed row must still have to be sent again (e.g. its sealed copy).
    retryable: str = "true"


@dataclass(frozen=True)
class Claim:
    key: uuid.UUID
    attempt: int


async def claim(conn: Connection, table: Table, lease_s: int) -> Claim | None:
    """One due row, its attempt counted and leased to the caller (autocommit)."""
    row = await conn.fetchrow(
        f"UPDATE {table.name} SET attempts = attempts + 1,"  # noqa: S608 - names are the code's (Table)
        " leased_until = now() + make_interval(secs => $1)"
        f" WHERE {table.key} = (SELECT {table.key} FROM {table.name}"
        f" WHERE state = '{table.due}' AND next_attempt_at <= now()"
        " AND (leased_until IS NULL OR leased_until <= now())"
        " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {table.key} AS key, attempts",
        float(lease_s),
    )
    return None if row is None else Claim(row["key"], row["attempts"])


async def settle(
    conn: Connection, table: Table, claim: Claim, state: str, reason: str | None
) -> bool:
    """The row's final state; False if this claim is no longer the row's (lease lost)."""
    status = await conn.execute(
        f"UPDATE {table.name} SET state = $3, reason = $4, leased_until = NULL,"  # noqa: S608 - names are the code's (Table)
        f" failing_since = CASE WHEN $3 = 'failed' THEN coalesce(failing_since, now()) END"
        f" WHERE {table.key} = $1 AND attempts = $2 AND state = '{table.due}'",
        claim.key,
        claim.attempt,
        state,
        reason,
    )
    return status.endswith(" 1")


async def reschedule(
    conn: Connection, table: Table, claim: Claim, delay_ms: int, reason: str | None
) -> bool:
    status = await conn.execute(
        f"UPDATE {table.name} SET leased_until = NULL, reason = $4,"  # noqa: S608 - names are the code's (Table)
        " next_attempt_at = now() + $3 * interval '1 millisecond',"
        " failing_since = coalesce(failing_since, now())"
        f" WHERE {table.key} = $1 AND attempts = $2 AND state = '{table.due}'",
        claim.key,
        claim.attempt,
        delay_ms,
        reason,
    )
    return status.endswith(" 1")


async def retry(conn: Connection, table: Table, key: uuid.UUID) -> bool:
    """An operator sends a failed row again: its attempts start over."""
    status = await conn.execute(
        f"UPDATE {table.name} SET state = '{table.due}', attempts = 0, next_attempt_at = now(),"  # noqa: S608 - names are the code's (Table)
        " leased_until = NULL, reason = NULL, failing_since = NULL"
        f" WHERE {table.key} = $1 AND state = 'failed' AND ({table.retryable})",
        key,
    )
    return status.endswith(" 1")


async def listing(
    conn: Connection, table: Table, stuck_after_s: int, limit: int = 200
) -> list[dict[str, Any]]:
    """Failed rows and stuck ones (still retrying after ``stuck_after_s``), newest first."""
    rows = await conn.fetch(
        f"SELECT {table.key} AS id, CASE WHEN state = 'failed' THEN 'failed' ELSE 'stuck' END"  # noqa: S608 - names are the code's (Table)
        " AS state, attempts, reason, failing_since, next_attempt_at"
        f" FROM {table.name} WHERE state = 'failed' OR (state = '{table.due}'"
        " AND failing_since <= now() - make_interval(secs => $1))"
        " ORDER BY failing_since DESC NULLS LAST LIMIT $2",
        float(stuck_after_s),
        limit,
    )
    return [{"kind": table.kind, **dict(r)} for r in rows]


async def counts(conn: Connection, table: Table, stuck_after_s: int) -> tuple[int, int]:
    """(failed, stuck) for the gauge."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'failed') AS failed,"  # noqa: S608 - names are the code's (Table)
        f" count(*) FILTER (WHERE state = '{table.due}'"
        " AND failing_since <= now() - make_interval(secs => $1)) AS stuck"
        f" FROM {table.name} WHERE state IN ('failed', '{table.due}')",
        float(stuck_after_s),
    )
    assert row is not None
    return int(row["failed"]), int(row["stuck"])


# --- the adapter ------------------------------------------------------------------------------


class Adapter(Protocol):
    """One kind of delivery. ``load`` reads (no lock) what ``deliver`` needs, or
    returns the outcome already known (cancelled, unusable); ``deliver`` does
    the I/O and classifies its own failures; ``recorded`` writes what is
    particular to the kind, in the transaction that records the outcome."""

    table: Table

    async def load(self, conn: Connection, claim: Claim) -> Any: ...

    async def deliver(self, item: Any) -> Outcome: ...

    async def recorded(
        self, conn: Connection, claim: Claim, item: Any, outcome: Outcome, state: str
    ) -> None: ...

    async def close(self) -> None: ...


# --- the runner -----------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        adapter: Adapter,
        *,
        concurrency: int = 1,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.adapter = adapter
        self.table = adapter.table
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.clock = clock
        self.done = 0
        self._measured_at = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``. Waits out a database outage; anything else is a bug
        and is raised, for the supervisor to see."""
        pause = self.poll_s
        try:
            while not stop.is_set():
                try:
                    worked = await self.run_once(stop)
                    await self.measure()
                    pause = self.poll_s
                except _DB_DOWN as exc:
                    log.warning(
                        "delivery waiting for the database",
                        kind=self.table.kind,
                        error=type(exc).__name__,
                    )
                    worked, pause = 0, min(pause * 2, 5.0)
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            await self.adapter.close()

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Deliver what is due now, ``concurrency`` at a time, until nothing is
        due or ``stop`` is set; how many were handled."""
        handled = await asyncio.gather(*(self._worker(stop) for _ in range(self.concurrency)))
        return sum(handled)

    async def _worker(self, stop: asyncio.Event | None) -> int:
        handled = 0
        # An attempt in progress finishes; no new one starts once stopping.
        while stop is None or not stop.is_set():
            async with self.pool.acquire() as conn:
                claimed = await claim(conn, self.table, self.settings.delivery_lease_s)
            if claimed is None:
                return handled
            await self.handle(claimed)
            handled += 1
        return handled

    async def handle(self, claimed: Claim) -> None:
        item: Any = None
        try:
            async with self.pool.acquire() as conn:
                item = await self.adapter.load(conn, claimed)
        except _DB_DOWN:
            raise  # the lease makes the row due again once the database is back
        except Exception as exc:
            item = self._quarantine(claimed, exc)
        if isinstance(item, Outcome):
            outcome = item
        else:
            try:
                outcome = await asyncio.wait_for(
                    self.adapter.deliver(item), timeout=self.settings.delivery_lease_s / 2
                )
            except TimeoutError:
                outcome = Outcome("transient", "timed out", None, "TimeoutError")
            except Exception as exc:
                outcome = self._quarantine(claimed, exc)
        await self.record(claimed, None if isinstance(item, Outcome) else item, outcome)

    def _quarantine(self, claimed: Claim, exc: Exception) -> Outcome:
        """A row this code cannot handle (a bug, data it cannot render) fails
        alone, with the error's class only: its text may quote the data."""
        log.error(
            "delivery quarantined",
            kind=self.table.kind,
            id=str(claimed.key),
            error=type(exc).__name__,
        )
        return Outcome("permanent", f"error: {type(exc).__name__}")

    async def record(self, claimed: Claim, item: Any, outcome: Outcome) -> None:
        delays = self.settings.delivery_retry_delays_ms
        reason = outcome.reason
        if outcome.kind == "done":
            state: str = self.table.done
        elif outcome.kind == "cancelled":
            state = "cancelled"
        elif outcome.kind == "permanent":
            state = "failed"
        elif claimed.attempt > len(delays):
            state, reason = "failed", f"retries used up ({outcome.reason})"
        else:
            state = self.table.due
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if state == self.table.due:
                    mine = await reschedule(
                        conn, self.table, claimed, delays[claimed.attempt - 1], reason
                    )
                else:
                    mine = await settle(conn, self.table, claimed, state, reason)
                if not mine:
                    log.warning("delivery lease lost", kind=self.table.kind, id=str(claimed.key))
                    return
                await self.adapter.recorded(conn, claimed, item, outcome, state)
        except _DB_DOWN:
            raise
        except Exception as exc:
            # The outcome cannot be recorded (a bug in the adapter, a row that
            # breaks a constraint): the row fails alone rather than coming
            # back after every lease and failing the same way.
            failure = self._quarantine(claimed, exc)
            async with self.pool.acquire() as conn:
                await settle(conn, self.table, claimed, "failed", failure.reason)
            return
        if state == self.table.done:
            self.done += 1
        event = "delivery retried later" if state == self.table.due else "delivery settled"
        log.info(
            event,
            kind=self.table.kind,
            id=str(claimed.key),
            state=state,
            attempt=claimed.attempt,
            reason=reason,
            code=outcome.code,
            detail=outcome.detail or None,
        )

    async def measure(self) -> None:
        """The failed and stuck gauge, at most every MEASURE_EVERY_S."""
        now = self.clock()
        if now - self._measured_at < MEASURE_EVERY_S:
            return
        self._measured_at = now
        async with self.pool.acquire() as conn:
            failed, stuck = await counts(conn, self.table, self.settings.delivery_stuck_after_s)
        metrics.set_deliveries(self.table.kind, failed, stuck)
