"""The background sender: due notifications become emails, emails go over SMTP.

Two steps, each its own commit, so the database always says where an email is:

1. **Plan.** For each member with due notifications (locked ``FOR UPDATE SKIP
   LOCKED``, so replicas share the work), re-check everything (``planning``),
   cancel or defer what must not go, and turn the rest into email rows in
   state ``sending``, counted against the weekly cap. Commit.
2. **Send.** For each email in ``sending`` whose time has come: take a
   session advisory lock on it (held while this process lives, released by
   PostgreSQL if it dies), record the attempt (committed), compose it,
   ``sendmail`` over a reused SMTP connection, then record the outcome.

Exactly once, in effect: an email is marked ``sent`` only after the server's
250, and an email in ``sending`` is attempted again only when no live process
holds its lock. The one duplicate left possible is a process dying between the
server's 250 and the ``sent`` commit: the restart sends it again with the same
Message-ID and the same bytes (docs/reliability.md, "Notifier: the SMTP window").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from functools import partial
from typing import Any, Literal

import aiosmtplib
from asyncpg import Record

from services.notifier import planning, queries, tokens
from services.notifier.compose import (
    InvalidAddress,
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    compose_digest,
    compose_instant,
    serialise,
)
from services.notifier.schedule import member_zone, week_bounds
from shared import logs, metrics, quarantine, sealing
from shared.db import UNAVAILABLE, Pool
from shared.sealing import SealError, derive_key, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

PLANNER_TASK = "planner"  # its records in shared.quarantine (queries.due_members skips them)
SENDERS = 4  # concurrent SMTP conversations (one connection each) per process
POLL_S = 0.5
BACKLOG_EVERY_S = 15.0
MEMBERS_PER_ROUND = 100
EMAILS_PER_ROUND = 200
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


@dataclass(frozen=True)
class Outcome:
    kind: Literal["sent", "transient", "permanent"]
    code: int | None
    reply: str
    # A permanent refusal of the recipient itself: stop mailing that address.
    address: bool = False


def classify(exc: BaseException) -> Outcome:
    """What an SMTP failure means for this email."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        code = refusals[0].code if refusals else 0
        reply = refusals[0].message if refusals else ""
        if 500 <= code < 600:
            return Outcome("permanent", code, _short(reply), address=True)
        return Outcome("transient", code, _short(reply))
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        if 500 <= exc.code < 600:
            return Outcome("permanent", exc.code, _short(exc.message), address=True)
        return Outcome("transient", exc.code, _short(exc.message))
    # Our own credentials or greeting refused: the server's state, not this email's.
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPHeloError):
        return Outcome("transient", exc.code, _short(exc.message))
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return Outcome("transient", None, type(exc).__name__)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind: Literal["transient", "permanent"] = (
            "permanent" if 500 <= exc.code < 600 else "transient"
        )
        return Outcome(kind, exc.code, _short(exc.message))
    return Outcome("transient", None, type(exc).__name__)


def _short(text: str) -> str:
    return logs.scrub(" ".join(str(text).split()))[:300]


class Mailer:
    """One SMTP connection, opened on first use and reused while it is healthy."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._last_used = 0.0

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
        loop = asyncio.get_running_loop()
        if self._smtp is not None and (
            not self._smtp.is_connected or loop.time() - self._last_used > MAX_IDLE_S
        ):
            await self.close()
        if self._smtp is None:
            self._smtp = await self._connect()
        try:
            _, reply = await self._smtp.sendmail(sender, [recipient], data)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
            await self.close()
            raise
        self._last_used = loop.time()
        return reply

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                if smtp.is_connected:
                    await smtp.quit()
                else:
                    smtp.close()


# --- the sender ---------------------------------------------------------------------


class Dispatcher:
    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        mailer_factory: Callable[[Settings], Mailer] = Mailer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        senders: int = SENDERS,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self.sealer = sealer_for(settings.secret_keys)
        self.links_key = link_key(settings.secret_key)
        self.mailers = [mailer_factory(settings) for _ in range(senders)]
        from_address = parseaddr(settings.mail_from)[1]
        self.sender = Sender(address=from_address, mail_domain=from_address.rpartition("@")[2])
        self.base_url = settings.public_url.rstrip("/")
        self.sent = 0
        self._backlog_at = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        pause = POLL_S
        try:
            while not stop.is_set():
                try:
                    worked = await self.plan_due() + await self.send_due()
                    await self.measure_backlog()
                    pause = POLL_S
                except _DB_DOWN as exc:
                    log.warning("sender waiting for the database", error=type(exc).__name__)
                    worked, pause = 0, min(pause * 2, 5.0)
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            for mailer in self.mailers:
                await mailer.close()

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
            members = await queries.due_members(conn, MEMBERS_PER_ROUND)
        emails = 0
        for member_id in members:
            # A member whose plan fails is set aside (shared/quarantine.py); the rest go on.
            planned = await quarantine.isolated(
                self.pool, "notifier", PLANNER_TASK, member_id, partial(self.plan_member, member_id)
            )
            emails += planned or 0
        return emails

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
        if decided.cancel:
            log.info("notifications cancelled", reasons=sorted(set(decided.cancel.values())))
        return len(decided.emails)

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

    # --- send ---

    async def send_due(self) -> int:
        async with self.pool.acquire() as conn:
            ids = await queries.due_emails(conn, EMAILS_PER_ROUND)
        if not ids:
            return 0
        work: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        for email_id in ids:
            work.put_nowait(email_id)

        async def worker(mailer: Mailer) -> None:
            while not work.empty():
                await self.send_one(mailer, work.get_nowait())

        await asyncio.gather(*(worker(m) for m in self.mailers[: len(ids)]))
        return len(ids)

    async def send_one(self, mailer: Mailer, email_id: uuid.UUID) -> None:
        lock = int.from_bytes(email_id.bytes[:8], "big", signed=True)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                return  # a live process is sending it
            try:
                await self._attempt(conn, mailer, email_id)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock)

    async def _attempt(self, conn: Any, mailer: Mailer, email_id: uuid.UUID) -> None:
        row = await queries.start_attempt(conn, email_id)
        if row is None:
            return  # finished meanwhile, or not yet due
        prefs = await queries.member(conn, row["member_id"])
        contact = self._contact(prefs) if prefs is not None else {}
        address, name = contact.get("email"), contact.get("name")
        if prefs is None or not isinstance(address, str):
            await queries.finish_email(conn, email_id, "cancelled", None, None, "member erased")
            return
        with logs.sensitive(name if isinstance(name, str) else None, address):
            try:
                data = self.build(
                    row, prefs, address, name, await queries.email_jobs(conn, email_id)
                )
            except InvalidAddress:
                await queries.finish_email(conn, email_id, "failed", None, None, "invalid address")
                log.warning("email not sent: the member's address is not usable")
                return
            try:
                reply = await mailer.send(self.sender.address, address, data)
                outcome = Outcome("sent", 250, _short(reply))
            except Exception as exc:
                outcome = classify(exc)
            await self._record(conn, row, outcome, address)

    async def _record(self, conn: Any, row: Record, outcome: Outcome, address: str) -> None:
        email_id = row["id"]
        if outcome.kind == "sent":
            await queries.finish_email(conn, email_id, "sent", outcome.code, outcome.reply)
            metrics.observe_email("sent", _metric_kind(row["kind"]))
            self.sent += 1
            log.info("email sent", email_id=str(email_id), kind=row["kind"])
            return
        delays = self.settings.smtp_retry_delays_ms
        attempts = row["attempts"]
        if outcome.kind == "permanent" or attempts > len(delays):
            reason = "smtp refused" if outcome.kind == "permanent" else "smtp retries used up"
            async with conn.transaction():
                await queries.finish_email(
                    conn, email_id, "failed", outcome.code, outcome.reply, reason
                )
                if outcome.address and outcome.code is not None:
                    await queries.suppress(
                        conn,
                        address_hash(self.settings.secret_key, address),
                        outcome.code,
                        outcome.reply,
                        email_id,
                    )
            metrics.observe_email("failed", _metric_kind(row["kind"]))
            log.warning(
                "email failed", email_id=str(email_id), code=outcome.code, reply=outcome.reply
            )
            return
        delay = delays[attempts - 1]
        await queries.retry_email(conn, email_id, delay, outcome.code, outcome.reply)
        metrics.observe_email("deferred", _metric_kind(row["kind"]))
        log.warning(
            "email will be retried",
            email_id=str(email_id),
            code=outcome.code,
            reply=outcome.reply,
            delay_ms=delay,
        )

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
            msg = compose_instant(
                notification_id=email["id"],
                sender=self.sender,
                recipient=recipient,
                job=shown[0],
                links=links,
                now=created,
            )
        else:
            msg = compose_digest(
                notification_id=email["id"],
                sender=self.sender,
                recipient=recipient,
                jobs=shown,
                links=links,
                now=created,
                period=email["kind"],
            )
        return serialise(msg)

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


def _metric_kind(kind: str) -> str:
    return "instant" if kind == "instant" else "digest"
