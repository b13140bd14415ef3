"""The background sender: due notifications become emails, emails go over SMTP.

Two steps, each its own commit, so the database always says where an email is:

1. **Plan.** For each member with due notifications (locked ``FOR UPDATE SKIP
   LOCKED``, so replicas share the work; many members per transaction,
   ``plan_batches``), re-check everything (``planning``),
   cancel or defer what must not go, and turn the rest into email rows in
   state ``sending``, counted against the weekly cap. Commit.
2. **Send.** The emails in ``sending`` go through the one delivery runner
   (``shared/delivery.py``): claimed in batches with a lease and committed,
   loaded together, composed and sent over a pool of reused SMTP
   connections outside any transaction, the outcomes recorded in group
   commits, at most ``SENDERS`` in flight. This module is its adapter: it
   composes, sends, and records what is particular to emails (the
   notifications' states, suppression of an address that refused for good).

Exactly once, in effect: an email is marked ``sent`` only after the server's
250, and an email in ``sending`` is attempted again only once its lease has
run out. The one duplicate left possible is a worker dying between the
server's 250 and the ``sent`` commit: after the lease it is sent again with
the same Message-ID and the same bytes (docs/reliability.md, "Deliveries").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import partial
from typing import Any

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings
from asyncpg import Record

from services.notifier import plan_batches, planning, queries, tokens
from services.notifier.compose import (
    InvalidAddress,
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    digest_bytes,
    instant_bytes,
)
from services.notifier.schedule import member_zone, week_bounds
from shared import delivery, logs, metrics, quarantine, sealing
from shared.db import UNAVAILABLE, Connection, Pool
from shared.sealing import SealError, derive_key, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

PLANNER_TASK = "planner"  # its records in shared.quarantine (queries.due_members skips them)
# Attempts in flight per process, from claim to recorded outcome: the most
# emails a crash can leave sent and not recorded (the SMTP window,
# docs/reliability.md). Wider than the connections, so that claiming, loading
# and recording (each a database round trip or a commit) overlap the sending.
SENDERS = 16
SMTP_CONNECTIONS = 4  # concurrent SMTP conversations (one connection each) per process
POLL_S = 0.5
BACKLOG_EVERY_S = 15.0
DUE_CHANNEL = "notifier_due"  # NOTIFY on every insert into notifier.notifications
PLANNERS = 4  # members planned side by side, each in its own transaction
SMTP_TIMEOUT_S = 20.0
# Servers drop idle clients; reconnect rather than discover it mid-send.
MAX_IDLE_S = 30.0


_DB_DOWN: tuple[type[BaseException], ...] = (OSError, *UNAVAILABLE)


def link_key(secret: str) -> bytes:
    return derive_key(secret, "links/v1")


def address_hash(secret: str, address: str) -> bytes:
    """A keyed hash of a normalised address: recognisable, not reversible."""
    return sealing.address_hashes([secret], "suppress/v1", address)[0]


def address_hashes(settings: Settings, address: str) -> list[bytes]:
    """Under every live secret (current first): a suppression recorded before a
    key rotation still stops mail to that address."""
    return sealing.address_hashes(settings.secret_keys, "suppress/v1", address)


# --- SMTP ---------------------------------------------------------------------------


class Mailer:
    """One SMTP connection, opened on first use and reused while it is healthy."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            timeout=SMTP_TIMEOUT_S,
        )
        await smtp.connect()
        if s.smtp_username:
            await smtp.login(s.smtp_username, s.smtp_password)
        return smtp

    async def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Send ``data`` as it is, to exactly one envelope recipient; the server's reply."""
        wire = on_the_wire(data)  # before a word is sent: nothing half done on a bad message
        async with self._lock:  # one transaction at a time on the one connection
            loop = asyncio.get_running_loop()
            if self._smtp is not None and (
                not self._smtp.is_connected or loop.time() - self._last_used > MAX_IDLE_S
            ):
                await self.close()
            if self._smtp is None:
                self._smtp = await self._connect()
            try:
                reply = await _transaction(self._smtp, sender, recipient, wire)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                # The server answered, and the envelope was reset (RSET): the
                # connection is as fresh as after a 250 (a refusal first on a
                # new connection no longer makes the next email reconnect).
                self._last_used = loop.time()
                raise
            except BaseException:
                # A timeout, a lost connection or a cancellation (a sender task
                # restarted by its supervisor) can stop mid-transaction, with half
                # an envelope left on the server: reused, the connection's next
                # MAIL gets "503 nested MAIL command", a refusal that fails an
                # email for good. Never reuse it; closed without a QUIT round trip,
                # which a cancelled task must not wait for.
                self.drop()
                raise
            self._last_used = loop.time()
            return reply

    def drop(self) -> None:
        """Close the connection at once (its session state is unknown)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                smtp.close()

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                if smtp.is_connected:
                    await smtp.quit()
                else:
                    smtp.close()


def on_the_wire(data: bytes) -> bytes:
    """``data`` as DATA carries it (RFC 5321 4.5.2): lines ended by CRLF, a
    dot doubled at the start of a line, then the end-of-data line.

    Exactly what ``aiosmtplib``'s ``data()`` sends, which does it with two
    regular-expression passes over the whole message (and ``sendmail`` one
    more for SIZE): under the notifier's benchmark, about as much time as
    composing the message. Composed messages already end every line with
    CRLF, which three counts in C confirm; anything else goes through
    ``aiosmtplib``'s own normalisation.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = normalize_message_line_endings(data)
    elif not data.endswith(b"\r\n"):
        data += b"\r\n"
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return (b"." + stuffed if stuffed.startswith(b".") else stuffed) + b".\r\n"


async def _transaction(smtp: aiosmtplib.SMTP, sender: str, recipient: str, wire: bytes) -> str:
    """MAIL, RCPT and DATA for one recipient, ``wire`` from ``on_the_wire``;
    the server's reply. As ``sendmail`` does it, raising what it raises (a
    refused recipient is ``SMTPRecipientsRefused``) and resetting the
    envelope (RSET) after a refusal, without its passes over the message."""
    try:
        await smtp.mail(sender)
        try:
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPRecipientRefused as refused:
            raise aiosmtplib.SMTPRecipientsRefused([refused]) from None
        start = await smtp.execute_command(b"DATA")
        if start.code != aiosmtplib.SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = smtp.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        # The reply is awaited at once, before the event loop can deliver it.
        protocol.write(wire)
        done = await protocol.read_response(timeout=SMTP_TIMEOUT_S)
        if done.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(done.code, done.message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset()
        raise
    return done.message


# --- the sender ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Email:
    """An email ready to go: composed outside any transaction, sent as it is."""

    kind: str
    address: str
    name: str | None
    data: bytes


class Dispatcher:
    """Plans due notifications into emails, and is the delivery runner's
    adapter for them."""

    table = delivery.Table(
        kind="email", name="notifier.emails", key="id", due="sending", done="sent"
    )

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        mailer_factory: Callable[[Settings], Mailer] = Mailer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        senders: int = SENDERS,
        connections: int = SMTP_CONNECTIONS,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        # Every live key opens a contact: after a key change and before
        # ``keys rotate`` the older contacts are still sealed under old keys.
        self.sealer = sealer_for(settings.secret_keys)
        self.links_key = link_key(settings.secret_key)
        self.mailers = [mailer_factory(settings) for _ in range(min(connections, senders))]
        self._mailers: asyncio.Queue[Mailer] = asyncio.Queue()
        for mailer in self.mailers:
            self._mailers.put_nowait(mailer)
        from_address = parseaddr(settings.mail_from)[1]
        self.sender = Sender(address=from_address, mail_domain=from_address.rpartition("@")[2])
        self.base_url = settings.public_url.rstrip("/")
        self.sent = 0
        self.runner = delivery.Runner(pool, settings, self, concurrency=senders)
        # Set by the listener when notifications are committed; by the planner
        # as soon as one member's emails are committed (not at the end of its round).
        self._due = asyncio.Event()
        self._planned = asyncio.Event()
        self._listener: Any = None
        self._backlog_at = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        """Planning and sending side by side, until ``stop``.

        Each used to wait for the other to finish: a member's emails were
        planned only once every email already planned was sent, so under load
        the backlog waited in the planner. Now the sender is woken as soon as
        the planner has made emails. A failure in either stops both and is
        raised as itself, for the supervisor to see and restart."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._loop(stop, "planner", self._plan_round, self._due))
                tasks.create_task(self._loop(stop, "sender", self._send_round, self._planned))
        except ExceptionGroup as group:
            raise group.exceptions[0] from None
        finally:
            await self._close_listener()
            await self.close()

    async def _plan_round(self, stop: asyncio.Event) -> int:
        try:
            await self._ensure_listening()
        except _DB_DOWN:
            await self._close_listener()
            raise
        planned = await self.plan_due()
        await self.measure_backlog()
        return planned

    async def _send_round(self, stop: asyncio.Event) -> int:
        sent = await self.runner.run_once(stop)
        await self.runner.measure()
        return sent

    async def _loop(
        self,
        stop: asyncio.Event,
        task: str,
        step: Callable[[asyncio.Event], Awaitable[int]],
        woken_by: asyncio.Event,
    ) -> None:
        """``step`` again at once while it finds work, else after a pause (or
        when ``woken_by`` is set); waits out a database outage."""
        pause = POLL_S
        while not stop.is_set():
            try:
                worked = await step(stop)
                pause = POLL_S
            except _DB_DOWN as exc:
                log.warning("sender waiting for the database", task=task, error=type(exc).__name__)
                worked, pause = 0, min(pause * 2, 5.0)
            if not worked:
                await _idle(stop, woken_by, pause)

    async def _ensure_listening(self) -> None:
        """A notification committed anywhere (a match recorded by any notifier)
        wakes the planner at once (migration 006), instead of at its next poll;
        the poll stays, for notifications that fall due later (digests, quiet
        hours) and for a lost listening connection."""
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._close_listener()
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(DUE_CHANNEL, self._notified)

    def _notified(self, *_: Any) -> None:
        self._due.set()
        # Matches due now are planned by the consumer in the transaction that
        # sent this (instant.py): their emails are ready for the sender too.
        self._planned.set()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(Exception):
            await listener.remove_listener(DUE_CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    async def send_due(self) -> int:
        """Every email due now, through the delivery runner (tests and benchmarks)."""
        return await self.runner.run_once()

    async def measure_backlog(self) -> None:
        """Notifications waiting for their slot (digests, quiet hours), for the
        dashboard; measured at most every BACKLOG_EVERY_S."""
        now = time.monotonic()
        if now - self._backlog_at < BACKLOG_EVERY_S:
            return
        self._backlog_at = now
        async with self.pool.acquire() as conn:
            metrics.set_digest_backlog(await queries.count_pending(conn))

    # --- plan ---

    async def plan_due(self) -> int:
        async with self.pool.acquire() as conn:
            members = await queries.due_members(conn, plan_batches.ROWS_PER_ROUND)
        # The round's members in a few transactions (plan_batches); those they
        # could not plan go one by one, where a bad one is quarantined alone.
        batch = await plan_batches.plan_round(
            self.pool,
            members,
            now=self.clock(),
            weekly_cap=self.settings.notifier_weekly_cap,
            address_hashes=self.contact_hashes,
        )
        if batch.emails:
            self._planned.set()
        if batch.cancel_reasons:
            log.info("notifications cancelled", reasons=sorted(batch.cancel_reasons))
        return batch.emails + await self.plan_each(batch.alone)

    async def plan_each(self, members: list[str]) -> int:
        """Members planned one at a time (``PLANNERS`` side by side), each in its own
        transaction."""
        places = asyncio.Semaphore(PLANNERS)

        async def plan(member_id: str) -> int:
            async with places:
                # A member whose plan fails is set aside (shared/quarantine.py); the rest go on.
                planned = await quarantine.isolated(
                    self.pool,
                    "notifier",
                    PLANNER_TASK,
                    member_id,
                    partial(self.plan_member, member_id),
                )
            return planned or 0

        # Members are planned side by side: each plan is a dozen round trips
        # and a commit, mostly waiting on the database, and members are
        # independent (each locks only its own notifications).
        try:
            async with asyncio.TaskGroup() as tasks:
                plans = [tasks.create_task(plan(m)) for m in members]
        except ExceptionGroup as group:
            raise group.exceptions[0] from None  # a database outage is waited out by the loop
        return sum(p.result() for p in plans)

    async def plan_member(self, member_id: str) -> int:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            pending = await queries.lock_due(conn, member_id)
            if not pending:
                return 0
            prefs = await queries.member(conn, member_id)
            posting_ids = [p.posting_id for p in pending]
            facts = planning.Facts()
            week_start = now
            if prefs is not None:
                week_start, _ = week_bounds(now, member_zone(prefs.timezone))
                facts = planning.Facts(
                    closed_postings=await queries.closed_postings(conn, posting_ids),
                    sent_postings=await queries.sent_postings(conn, member_id, posting_ids),
                    not_for_me=await queries.not_for_me(conn, member_id, posting_ids),
                    address_suppressed=await self._suppressed(conn, prefs),
                    jobs_this_week=await queries.jobs_this_week(conn, member_id, week_start),
                )
            decided = planning.plan(
                prefs, pending, facts, now=now, weekly_cap=self.settings.notifier_weekly_cap
            )
            await queries.cancel(conn, decided.cancel)
            await queries.defer(conn, decided.defer)
            for email in decided.emails:
                await queries.create_email(conn, member_id, email)
            if decided.jobs:
                await queries.count_jobs(conn, member_id, week_start, decided.jobs)
        if decided.emails:
            self._planned.set()
        if decided.cancel:
            log.info("notifications cancelled", reasons=sorted(set(decided.cancel.values())))
        return len(decided.emails)

    def contact_hashes(self, prefs: planning.Prefs) -> list[bytes]:
        """The keyed hashes of the member's address (none without one), to look up
        in the suppressed addresses."""
        address = self._contact(prefs).get("email")
        return address_hashes(self.settings, address) if isinstance(address, str) else []

    async def _suppressed(self, conn: Any, prefs: planning.Prefs) -> bool:
        address = self._contact(prefs).get("email")
        if not isinstance(address, str):
            return False
        return await queries.is_suppressed(conn, address_hashes(self.settings, address))

    def _contact(self, prefs: planning.Prefs) -> dict[str, Any]:
        if not prefs.sealed_contact:
            return {}
        try:
            return self.sealer.open(prefs.sealed_contact)
        except SealError:
            log.warning("a member's contact cannot be opened", member_id=prefs.member_id)
            return {}

    # --- send: the delivery runner's adapter ---

    async def load(self, conn: Connection, claim: delivery.Claim) -> Any:
        row = await queries.email_row(conn, claim.key)
        prefs = await queries.member(conn, row["member_id"])
        return self._prepare(row, prefs, await queries.email_jobs(conn, claim.key))

    async def load_many(self, conn: Connection, claims: list[delivery.Claim]) -> list[Any]:
        """``load`` for a batch of claimed emails, in three queries."""
        keys = [c.key for c in claims]
        rows = await queries.email_rows(conn, keys)
        members = await queries.members(conn, [r["member_id"] for r in rows.values()])
        jobs = await queries.emails_jobs(conn, keys)
        return [self._prepare(rows[k], members.get(rows[k]["member_id"]), jobs[k]) for k in keys]

    def _prepare(self, row: Record, prefs: planning.Prefs | None, jobs: list[Record]) -> Any:
        """The email composed, or the outcome already known."""
        contact = self._contact(prefs) if prefs is not None else {}
        address, name = contact.get("email"), contact.get("name")
        if prefs is None or not isinstance(address, str):
            return delivery.Outcome("cancelled", "member erased")
        with logs.sensitive(name if isinstance(name, str) else None, address):
            try:
                data = self.build(row, prefs, address, name, jobs)
            except InvalidAddress:
                log.warning("email not sent: the member's address is not usable")
                return delivery.Outcome("permanent", "invalid address")
        return _Email(row["kind"], address, name if isinstance(name, str) else None, data)

    async def deliver(self, email: _Email) -> delivery.Outcome:
        mailer = await self._mailers.get()
        try:
            with logs.sensitive(email.name, email.address):
                reply = await mailer.send(self.sender.address, email.address, email.data)
        except Exception as exc:
            return delivery.classify_smtp(exc)
        finally:
            self._mailers.put_nowait(mailer)
        return delivery.Outcome("done", None, 250, delivery.short(reply))

    async def recorded(
        self,
        conn: Connection,
        claim: delivery.Claim,
        email: _Email | None,
        outcome: delivery.Outcome,
        state: str,
    ) -> None:
        await queries.record_email(conn, claim.key, state, outcome.code, outcome.detail or None)
        if state == "sending":
            if email is not None:
                metrics.observe_email("deferred", _metric_kind(email.kind))
            return
        await queries.settle_notifications(conn, claim.key, state, outcome.reason)
        if email is None:
            return
        if state == "sent":
            self.sent += 1
            metrics.observe_email("sent", _metric_kind(email.kind))
        elif state == "failed":
            metrics.observe_email("failed", _metric_kind(email.kind))
            if outcome.address and outcome.code is not None:
                await queries.suppress(
                    conn,
                    address_hash(self.settings.secret_key, email.address),
                    outcome.code,
                    outcome.detail,
                    claim.key,
                )

    async def recorded_many(self, conn: Connection, rows: list[delivery.Recorded]) -> None:
        """``recorded`` for a group of outcomes: the emails and their jobs in two
        statements; suppressions (rare) one by one."""
        await queries.record_emails(
            conn,
            [
                (r.claim.key, r.state, r.outcome.code, r.outcome.detail or None, r.outcome.reason)
                for r in rows
            ],
        )
        for r in rows:
            email = r.item
            if not isinstance(email, _Email):
                continue
            if r.state == "sending":
                metrics.observe_email("deferred", _metric_kind(email.kind))
            elif r.state == "sent":
                self.sent += 1
                metrics.observe_email("sent", _metric_kind(email.kind))
            elif r.state == "failed":
                metrics.observe_email("failed", _metric_kind(email.kind))
                if r.outcome.address and r.outcome.code is not None:
                    await queries.suppress(
                        conn,
                        address_hash(self.settings.secret_key, email.address),
                        r.outcome.code,
                        r.outcome.detail,
                        r.claim.key,
                    )

    async def close(self) -> None:
        for mailer in self.mailers:
            await mailer.close()

    # --- compose ---

    def build(
        self,
        email: Record,
        prefs: planning.Prefs,
        address: str,
        name: object,
        jobs: list[Record],
    ) -> bytes:
        """The email's bytes. Links are issued at the email's creation time, so a
        resend after a crash is byte-for-byte the same message."""
        created: datetime = email["created_at"]
        first = name.split()[0] if isinstance(name, str) and name.split() else None
        recipient = Recipient(
            address=address, language=prefs.language, timezone=prefs.timezone, first_name=first
        )
        links = MemberLinks(
            pause=self._link("pause", tokens.Action.PAUSE, prefs.link_id, created),
            preferences=self._link("p", tokens.Action.PREFERENCES, prefs.link_id, created),
            unsubscribe=self._link("u", tokens.Action.UNSUBSCRIBE, prefs.link_id, created),
        )
        shown = [self._job(j, created) for j in jobs]
        if email["kind"] == "instant":
            return instant_bytes(
                notification_id=email["id"],
                sender=self.sender,
                recipient=recipient,
                job=shown[0],
                links=links,
                now=created,
            )
        return digest_bytes(
            notification_id=email["id"],
            sender=self.sender,
            recipient=recipient,
            jobs=shown,
            links=links,
            now=created,
            period=email["kind"],
        )

    def _job(self, n: Record, created: datetime) -> Job:
        return Job(
            title=n["title"],
            company=n["company_name"],
            city=n["city"],
            explanation=n["explanation"] or {},
            links=JobLinks(
                interested=self._link("i", tokens.Action.INTERESTED, n["id"], created),
                not_for_me=self._link("n", tokens.Action.NOT_FOR_ME, n["id"], created),
                forward=self._link("f", tokens.Action.FORWARD, n["id"], created),
                opening=self._link("o", tokens.Action.OPENING, n["id"], created),
            ),
        )

    def _link(self, path: str, action: tokens.Action, subject: uuid.UUID, now: datetime) -> str:
        token = tokens.issue(self.links_key, action, subject, tokens.DEFAULT_TTL[action], now=now)
        return f"{self.base_url}/{path}/{token}"


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """ServiceSpec.background entry point."""
    dispatcher = Dispatcher(runtime.pool, runtime.settings)
    runtime.extras["dispatcher"] = dispatcher
    await dispatcher.run(stop)


async def _idle(stop: asyncio.Event, wake: asyncio.Event, pause: float) -> None:
    """Until ``stop``, ``wake`` (then cleared) or ``pause`` seconds, the first of them."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    wake.clear()


def _metric_kind(kind: str) -> str:
    return "instant" if kind == "instant" else "digest"
