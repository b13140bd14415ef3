"""The one delivery runner: everything that leaves the system goes through it.

The counterpart of ``shared/consumer.py`` for outbound side effects (members'
emails and digests, forwards to colleagues, referral callbacks and referral
emails). A kind of delivery is a table with the same columns (``state``,
``attempts``, ``next_attempt_at``, ``leased_until``, ``reason``,
``failing_since``) and a small adapter that loads a row, does the I/O and
records what is particular to it. The runner is a pipeline that keeps at
most ``concurrency`` attempts in flight (claimed, outcome not yet
committed); for the due rows it:

1. **claims** as many as there are free places in one ``UPDATE`` over rows
   picked ``FOR UPDATE SKIP LOCKED``: each attempt counted and leased
   (``PASSAPAROLA_DELIVERY_LEASE_S``), committed at once, so any number of
   instances share the work and none waits on another; loads them together
   (``BatchAdapter.load_many``: a few queries for the batch);
2. **delivers** each outside any transaction (no lock is held across a call
   to someone else's server), bounded by half the lease, as soon as it is
   loaded;
3. **records** the outcomes in group commits: those that arrive while a
   commit is in progress go together in the next one, each guarded by its
   attempt number (a worker whose lease ran out, and whose row was claimed
   again, records nothing). A group that fails for any reason but the
   database is recorded again row by row, so one bad row fails alone.

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
from typing import Any, Literal, Protocol, runtime_checkable

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


async def claim_many(conn: Connection, table: Table, lease_s: int, limit: int) -> list[Claim]:
    """Up to ``limit`` due rows, each attempt counted and leased to the caller,
    in one statement (autocommit).

    The claim's commit does not wait for its WAL flush (``synchronous_commit``
    off for this one transaction, set inside the statement: no extra round
    trip). Only a crash of PostgreSQL itself can lose it, and what that costs
    is the SMTP window's duplicate, never a lost delivery: the claim's WAL
    precedes the outcome's, so an outcome that is durable makes its claim
    durable; a claim lost before its outcome is recorded leaves the row due
    again at once, so it may be sent a second time, with the same id (as a
    lost ``sent`` commit is). A crash of the sending process loses nothing:
    the commit is in PostgreSQL's memory and on disk within
    ``wal_writer_delay`` (docs/reliability.md, "Deliveries")."""
    rows = await conn.fetch(
        f"UPDATE {table.name} SET attempts = attempts + 1,"  # noqa: S608 - names are the code's (Table)
        " leased_until = now() + make_interval(secs => $1)"
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
        f" WHERE {table.key} IN (SELECT {table.key} FROM {table.name}"
        f" WHERE state = '{table.due}' AND next_attempt_at <= now()"
        " AND (leased_until IS NULL OR leased_until <= now())"
        " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {table.key} AS key, attempts",
        float(lease_s),
        limit,
    )
    return [Claim(r["key"], r["attempts"]) for r in rows]


async def claim(conn: Connection, table: Table, lease_s: int) -> Claim | None:
    """One due row, its attempt counted and leased to the caller (autocommit)."""
    claimed = await claim_many(conn, table, lease_s, 1)
    return claimed[0] if claimed else None


@dataclass(frozen=True)
class Decision:
    """What recording an outcome writes: the row's next state, and for a retry its delay."""

    claim: Claim
    state: str
    reason: str | None
    delay_ms: int | None = None


async def settle_many(conn: Connection, table: Table, decisions: list[Decision]) -> set[uuid.UUID]:
    """Each row's outcome, in one statement; the keys still held by their
    claim (a row whose lease was lost and claimed again is left alone). A
    retry keeps its state and is due again after its delay; ``failing_since``
    marks the start of a run of failures and is cleared by success."""
    rows = await conn.fetch(
        f"UPDATE {table.name} AS t SET state = o.state, reason = o.reason,"  # noqa: S608 - names are the code's (Table)
        " leased_until = NULL,"
        " next_attempt_at = CASE WHEN o.delay_ms IS NULL THEN t.next_attempt_at"
        "  ELSE now() + o.delay_ms * interval '1 millisecond' END,"
        f" failing_since = CASE WHEN o.state IN ('failed', '{table.due}')"
        "  THEN coalesce(t.failing_since, now()) END"
        " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[])"
        "  AS o(key, attempt, state, reason, delay_ms)"
        f" WHERE t.{table.key} = o.key AND t.attempts = o.attempt AND t.state = '{table.due}'"
        f" RETURNING t.{table.key} AS key",
        [d.claim.key for d in decisions],
        [d.claim.attempt for d in decisions],
        [d.state for d in decisions],
        [d.reason for d in decisions],
        [d.delay_ms for d in decisions],
    )
    return {r["key"] for r in rows}


async def settle(
    conn: Connection, table: Table, claim: Claim, state: str, reason: str | None
) -> bool:
    """The row's final state; False if this claim is no longer the row's (lease lost)."""
    return bool(await settle_many(conn, table, [Decision(claim, state, reason)]))


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


@dataclass(frozen=True)
class Recorded:
    """One outcome being recorded: what ``recorded_many`` is given."""

    claim: Claim
    item: Any
    outcome: Outcome
    state: str


@runtime_checkable
class BatchAdapter(Adapter, Protocol):
    """An adapter that can also load and record several rows at once, in a
    few statements instead of a few per row (the members' emails). The
    runner falls back to the one-row methods when a batch fails, so one bad
    row still fails alone."""

    async def load_many(self, conn: Connection, claims: list[Claim]) -> list[Any]: ...

    async def recorded_many(self, conn: Connection, rows: list[Recorded]) -> None: ...


# --- the runner -----------------------------------------------------------------------------


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first failure inside (possibly nested) task groups."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


class _Window:
    """Attempts in flight, from claim to recorded outcome, at most ``size``:
    the emails a crash can leave sent but not recorded (the SMTP window)."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._freed = asyncio.Event()
        self._freed.set()

    async def take_all(self) -> int:
        """Every free place, once there is at least one."""
        while self.free == 0:
            self._freed.clear()
            await self._freed.wait()
        taken, self.free = self.free, 0
        return taken

    def give(self, places: int) -> None:
        if places:
            self.free += places
            self._freed.set()


class _GroupCommit:
    """Outcomes that arrive while a commit is in progress are recorded together
    in the next one: one transaction (and one fsync) for many rows, and no
    attempt waits for a slower one to finish (ingest's group commit, for
    deliveries)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.pending: list[tuple[Claim, Any, Outcome, asyncio.Future[None]]] = []
        self.arrived = asyncio.Event()
        self.closed = False

    async def record(self, claimed: Claim, item: Any, outcome: Outcome) -> None:
        """Once the outcome is committed (or raises what the commit raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((claimed, item, outcome, done))
        self.arrived.set()
        await done

    def close(self) -> None:
        self.closed = True
        self.arrived.set()

    async def run(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived.clear()
            group, self.pending = self.pending, []
            if not group:
                if self.closed:
                    return
                continue
            try:
                await self.runner.record_group([(c, i, o) for c, i, o, _ in group])
            except BaseException as exc:
                for *_, done in group:
                    if not done.done():
                        done.set_exception(exc)
                raise
            for *_, done in group:
                if not done.done():
                    done.set_result(None)


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
        """Deliver what is due now until nothing is due or ``stop`` is set; how
        many were handled.

        A pipeline, not rounds (rounds wait for their slowest attempt): at
        most ``concurrency`` attempts are in flight, from claim to recorded
        outcome, so a crash leaves at most that many sent and not recorded.
        Whenever places free up, that many rows are claimed in one statement
        and loaded together; each is delivered as soon as it is loaded, and
        its outcome joins the next group commit."""
        window = _Window(self.concurrency)
        recorder = _GroupCommit(self)
        handled = 0
        try:
            async with asyncio.TaskGroup() as recording:
                recording.create_task(recorder.run())
                try:
                    async with asyncio.TaskGroup() as attempts:
                        # An attempt in progress finishes; no new one starts once stopping.
                        while stop is None or not stop.is_set():
                            places = await window.take_all()
                            if stop is not None and stop.is_set():
                                break
                            claims: list[Claim] = []
                            try:
                                async with self.pool.acquire() as conn:
                                    claims = await claim_many(
                                        conn, self.table, self.settings.delivery_lease_s, places
                                    )
                            finally:
                                window.give(places - len(claims))
                            if not claims:
                                break
                            handled += len(claims)
                            # Loading waits for nothing in flight: the claims hold their places.
                            items = await self._load(claims)
                            for claimed, item in zip(claims, items, strict=True):
                                attempts.create_task(self._attempt(claimed, item, recorder, window))
                finally:
                    recorder.close()
        except ExceptionGroup as group:
            # The first failure as itself (a database outage is waited out by the caller).
            raise first_error(group) from None
        return handled

    async def _load(self, claims: list[Claim]) -> list[Any]:
        """What each claimed row needs, or its outcome already known; a row that
        cannot be loaded fails alone."""
        if isinstance(self.adapter, BatchAdapter):
            try:
                async with self.pool.acquire() as conn:
                    return await self.adapter.load_many(conn, claims)
            except _DB_DOWN:
                raise  # the lease makes the rows due again once the database is back
            except Exception:  # noqa: S110 - one row broke the batch: each alone below finds it
                pass
        items: list[Any] = []
        for claimed in claims:
            try:
                async with self.pool.acquire() as conn:
                    items.append(await self.adapter.load(conn, claimed))
            except _DB_DOWN:
                raise
            except Exception as exc:
                items.append(self._quarantine(claimed, exc))
        return items

    async def _attempt(
        self, claimed: Claim, item: Any, recorder: _GroupCommit, window: _Window
    ) -> None:
        try:
            if isinstance(item, Outcome):
                outcome, item = item, None
            else:
                try:
                    outcome = await asyncio.wait_for(
                        self.adapter.deliver(item), timeout=self.settings.delivery_lease_s / 2
                    )
                except TimeoutError:
                    outcome = Outcome("transient", "timed out", None, "TimeoutError")
                except Exception as exc:
                    outcome = self._quarantine(claimed, exc)
            await recorder.record(claimed, item, outcome)
        finally:
            window.give(1)

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

    def _decide(self, claimed: Claim, outcome: Outcome) -> Decision:
        """The one rule: done, cancelled, failed, or retried after the next delay."""
        delays = self.settings.delivery_retry_delays_ms
        if outcome.kind == "done":
            return Decision(claimed, self.table.done, outcome.reason)
        if outcome.kind == "cancelled":
            return Decision(claimed, "cancelled", outcome.reason)
        if outcome.kind == "permanent":
            return Decision(claimed, "failed", outcome.reason)
        if claimed.attempt > len(delays):
            return Decision(claimed, "failed", f"retries used up ({outcome.reason})")
        return Decision(claimed, self.table.due, outcome.reason, delays[claimed.attempt - 1])

    async def record_group(self, entries: list[tuple[Claim, Any, Outcome]]) -> None:
        """Several outcomes in one transaction; if that fails for any reason but
        the database, each is recorded alone, so a row that breaks it fails alone."""
        decisions = [self._decide(c, o) for c, _, o in entries]
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                mine = await settle_many(conn, self.table, decisions)
                kept = [
                    Recorded(d.claim, item, outcome, d.state)
                    for d, (_, item, outcome) in zip(decisions, entries, strict=True)
                    if d.claim.key in mine
                ]
                if isinstance(self.adapter, BatchAdapter):
                    await self.adapter.recorded_many(conn, kept)
                else:
                    for r in kept:
                        await self.adapter.recorded(conn, r.claim, r.item, r.outcome, r.state)
        except _DB_DOWN:
            raise
        except Exception:
            for claimed, item, outcome in entries:
                await self.record(claimed, item, outcome)
            return
        done = 0
        for d, (_, _, outcome) in zip(decisions, entries, strict=True):
            if d.claim.key not in mine:
                log.warning("delivery lease lost", kind=self.table.kind, id=str(d.claim.key))
            elif d.state == self.table.done and d.claim.attempt == 1:
                self.done += 1
                done += 1
            else:
                self._settled(d, outcome)
        if done:
            # Deliveries done at the first attempt, the bulk of a daily run: one
            # line for the group, counted (a JSON line through the redacting
            # processors cost ~0.35 ms, about as much as composing a digest,
            # and each id in it ~0.08 ms more); each row says itself that it
            # was done, and when. Anything else (a retry, a failure, a
            # cancellation, a success after retries) keeps its own line with
            # its id, its reason and the server's reply.
            log.info("deliveries settled", kind=self.table.kind, state=self.table.done, count=done)

    async def record(self, claimed: Claim, item: Any, outcome: Outcome) -> None:
        """One outcome in its own transaction."""
        decision = self._decide(claimed, outcome)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await settle_many(conn, self.table, [decision]):
                    log.warning("delivery lease lost", kind=self.table.kind, id=str(claimed.key))
                    return
                await self.adapter.recorded(conn, claimed, item, outcome, decision.state)
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
        self._settled(decision, outcome)

    def _settled(self, decision: Decision, outcome: Outcome) -> None:
        if decision.state == self.table.done:
            self.done += 1
        retried = decision.state == self.table.due
        log.info(
            "delivery retried later" if retried else "delivery settled",
            kind=self.table.kind,
            id=str(decision.claim.key),
            state=decision.state,
            attempt=decision.claim.attempt,
            reason=decision.reason,
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
