"""Delivering the referrals members consented to, to the companies ingest owns.

Why here: ingest owns the companies (their callback URL, contact address and
signing secrets) and the postings; the notifier owns the member's consent.
The notifier publishes ``referral.requested`` (what the company will receive,
sealed) and ``referral.withdrawn``; ingest consumes them, delivers, and
publishes ``referral.settled``. No company data is copied to another service,
and no service reads another's tables.

Delivery: a referral waits ``PASSAPAROLA_REFERRAL_HOLD_S`` (the member may
still withdraw it), then goes to the company's callback URL, signed with the
Standard Webhooks scheme under the company's delivery secret (``webhook-id``
is the referral id, the same on every retry), or, without a callback, by
email to the company's contact address. Each attempt is logged in
``ingest.referral_attempts``; transient failures are retried after
``PASSAPAROLA_REFERRAL_RETRY_DELAYS_MS``; after the last one the referral is
``failed``: the dead letter, listed by ``passaparola referral list --failed``
and sent again with ``passaparola referral retry ID``.

A row is locked (``FOR UPDATE SKIP LOCKED``) for the length of an attempt, so
replicas never deliver one twice, and a withdrawal that arrives meanwhile
waits for the outcome and then finds it delivered (or withdraws it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal

import aiohttp
import aiosmtplib

from services.ingest.signing import sign
from shared import logs, metrics
from shared.db import UNAVAILABLE, Connection, Pool
from shared.events import Envelope, ReferralRequested, ReferralSettled, ReferralWithdrawn
from shared.outbox import enqueue
from shared.sealing import Sealer, SealError, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

SCHEMA = "ingest"
SOURCE = "/ingest/referrals"
POLL_S = 1.0
BATCH = 20
HTTP_TIMEOUT_S = 10.0
SMTP_TIMEOUT_S = 20.0

Channel = Literal["callback", "email"]
_WAIT: tuple[type[BaseException], ...] = (OSError, *UNAVAILABLE)


# --- consuming the notifier's events ------------------------------------------------------


async def on_requested(event: Envelope, conn: Connection, settings: Settings) -> None:
    requested = event.payload(ReferralRequested)
    try:
        member_id = uuid.UUID(requested.member_id)
        posting_id = uuid.UUID(requested.posting_id)
        referral_id = uuid.UUID(requested.referral_id)
    except ValueError:
        log.warning("referral with malformed ids ignored", referral_id=requested.referral_id)
        return
    member_known = await conn.fetchval("SELECT true FROM ingest.members WHERE id = $1", member_id)
    state, reason = ("pending", None) if member_known else ("cancelled", "member erased")
    await conn.execute(
        "INSERT INTO ingest.referrals (referral_id, member_id, posting_id, language,"
        " consented_at, sealed_referral, state, reason, next_attempt_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))"
        " ON CONFLICT (referral_id) DO NOTHING",
        referral_id,
        member_id if member_known else None,
        posting_id,
        requested.language,
        datetime.fromisoformat(requested.consented_at),
        requested.sealed_referral if member_known else None,
        state,
        reason,
        float(settings.referral_hold_s),
    )
    if not member_known:
        await _settled(conn, referral_id, requested.member_id, "cancelled", None)
    log.info("referral received", referral_id=str(referral_id), state=state)


async def on_withdrawn(event: Envelope, conn: Connection) -> None:
    withdrawn = event.payload(ReferralWithdrawn)
    try:
        referral_id = uuid.UUID(withdrawn.referral_id)
        posting_id = uuid.UUID(withdrawn.posting_id)
        member_id = uuid.UUID(withdrawn.member_id)
    except ValueError:
        return
    # Waits for an attempt in progress (its row lock): then either withdraws
    # a pending referral or finds it delivered. Events may overtake each
    # other: a withdrawal that comes first leaves a tombstone, and the late
    # request then finds the referral withdrawn.
    done = await conn.fetchval(
        "INSERT INTO ingest.referrals (referral_id, posting_id, member_id, language,"
        " consented_at, state, next_attempt_at, settled_at) VALUES ($1, $2,"
        " (SELECT id FROM ingest.members WHERE id = $3), 'en', now(), 'withdrawn', now(),"
        " now()) ON CONFLICT (referral_id) DO UPDATE SET state = 'withdrawn',"
        " sealed_referral = NULL, settled_at = now(), updated_at = now()"
        " WHERE ingest.referrals.state IN ('pending', 'failed') RETURNING true",
        referral_id,
        posting_id,
        member_id,
    )
    if done:
        await _settled(conn, referral_id, withdrawn.member_id, "cancelled", None)
    log.info("referral withdrawal", referral_id=str(referral_id), withdrawn=bool(done))


async def _settled(
    conn: Connection,
    referral_id: uuid.UUID,
    member_id: str,
    outcome: Literal["delivered", "failed", "cancelled"],
    channel: Channel | None,
) -> None:
    event = ReferralSettled(
        referral_id=str(referral_id),
        member_id=member_id,
        outcome=outcome,
        channel=channel or "none",
    )
    await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))


# --- what the company receives -----------------------------------------------------------


def payload(row: Any, sent: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The JSON a company receives (documented in the README)."""
    return {
        "type": "referral.requested",
        "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {
            "referral_id": str(row["referral_id"]),
            "posting": {
                "id": str(row["posting_id"]),
                "external_id": row["external_id"],
                "title": row["title"],
            },
            "candidate": {
                "name": sent.get("name"),
                "email": sent.get("email"),
                "note": sent.get("note") or None,
                "profile_url": sent.get("profile_url") or None,
            },
            "language": row["language"],
            "consented_at": row["consented_at"].isoformat(timespec="seconds"),
        },
    }


def email_message(settings: Settings, to: str, body: dict[str, Any]) -> EmailMessage:
    """The referral as an email to the company's contact address. Headers carry
    only our own values; everything the member wrote goes in the body."""
    data = body["data"]
    candidate = data["candidate"]
    msg = EmailMessage()
    name, address = parseaddr(settings.mail_from)
    msg["From"] = Address(display_name=name or "passaparola", addr_spec=address)
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = "passaparola: a referral for one of your openings"
    msg["Message-ID"] = f"<referral-{data['referral_id']}@{address.rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"
    lines = [
        "A member of the community asked to be referred to you for this opening:",
        "",
        f"  Opening:   {data['posting']['title']} ({data['posting']['external_id']})",
        f"  Name:      {candidate['name']}",
        f"  Email:     {candidate['email']}",
    ]
    if candidate["profile_url"]:
        lines.append(f"  CV/profile: {candidate['profile_url']}")
    if candidate["note"]:
        lines += ["", "Their note:", "", candidate["note"]]
    lines += [
        "",
        f"They consented on {data['consented_at']}. Referral id: {data['referral_id']}.",
        "",
        "The same referral as JSON:",
        json.dumps(body, ensure_ascii=False, indent=2),
    ]
    msg.set_content("\n".join(lines))
    return msg


# --- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    ok: bool
    permanent: bool
    status: int | None
    error: str | None


class Deliverer:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.sealer: Sealer = sealer_for(settings.secret_keys)
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        pause = POLL_S
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        ) as http:
            while not stop.is_set():
                try:
                    worked = await self.deliver_due(http)
                    pause = POLL_S
                except _WAIT as exc:
                    log.warning("referral delivery waiting", error=type(exc).__name__)
                    worked, pause = 0, min(pause * 2, 5.0)
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause)

    async def deliver_due(self, http: aiohttp.ClientSession) -> int:
        async with self.pool.acquire() as conn:
            ids = await conn.fetch(
                "SELECT referral_id FROM ingest.referrals WHERE state = 'pending'"
                " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1",
                BATCH,
            )
        for row in ids:
            await self.deliver_one(http, row["referral_id"])
        return len(ids)

    async def deliver_one(self, http: aiohttp.ClientSession, referral_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT r.*, p.company_id AS posting_company, p.external_id, p.status,"
                " p.data->>'title' AS title, c.callback_url, c.callback_secret_sealed,"
                " c.contact_email, c.disabled_at"
                " FROM ingest.referrals r"
                " LEFT JOIN ingest.postings p ON p.id = r.posting_id"
                " LEFT JOIN ingest.companies c ON c.id = p.company_id"
                " WHERE r.referral_id = $1 AND r.state = 'pending' AND r.next_attempt_at <= now()"
                " FOR UPDATE OF r SKIP LOCKED",
                referral_id,
            )
            if row is None:
                return
            logs.bind(referral_id=str(referral_id))
            reason = None
            if row["posting_company"] is None:
                reason = "posting unknown"
            elif row["status"] == "closed":
                reason = "posting closed"
            elif row["disabled_at"] is not None:
                reason = "company disabled"
            elif row["sealed_referral"] is None:
                reason = "nothing to send"
            if reason:
                await self._finish(conn, row, "cancelled", None, reason)
                return
            attempt, channel = await self._attempt(http, row)
            number = row["attempts"] + 1
            await conn.execute(
                "INSERT INTO ingest.referral_attempts (referral_id, attempt, channel, status,"
                " error) VALUES ($1, $2, $3, $4, $5)",
                referral_id,
                number,
                channel,
                attempt.status,
                attempt.error,
            )
            delays = self.settings.referral_retry_delays_ms
            if attempt.ok:
                await self._finish(conn, row, "delivered", channel, None, number)
                self.delivered += 1
            elif attempt.permanent or number > len(delays):
                await self._finish(conn, row, "failed", channel, attempt.error or "failed", number)
                log.error("referral dead-lettered", attempts=number, error=attempt.error)
            else:
                await conn.execute(
                    "UPDATE ingest.referrals SET attempts = $2, company_id = $3,"
                    " next_attempt_at = now() + $4 * interval '1 millisecond', reason = $5,"
                    " updated_at = now() WHERE referral_id = $1",
                    referral_id,
                    number,
                    row["posting_company"],
                    delays[number - 1],
                    attempt.error,
                )
                log.warning("referral delivery will be retried", attempts=number)

    async def _finish(
        self,
        conn: Connection,
        row: Any,
        state: Literal["delivered", "failed", "cancelled"],
        channel: Channel | None,
        reason: str | None,
        attempts: int | None = None,
    ) -> None:
        # Delivered or cancelled: the sealed copy has done its work. A failed
        # one keeps it, so an operator can send it again.
        keep = state == "failed"
        await conn.execute(
            "UPDATE ingest.referrals SET state = $2, channel = $3, reason = $4,"
            " attempts = coalesce($5, attempts), company_id = coalesce($6, company_id),"
            " sealed_referral = CASE WHEN $7 THEN sealed_referral END,"
            " settled_at = now(), updated_at = now() WHERE referral_id = $1",
            row["referral_id"],
            state,
            channel,
            reason,
            attempts,
            row["posting_company"],
            keep,
        )
        member = str(row["member_id"]) if row["member_id"] else ""
        await _settled(conn, row["referral_id"], member, state, channel)
        if state != "cancelled":
            metrics.observe_referral("sent" if state == "delivered" else "failed")
        log.info("referral settled", state=state, channel=channel, reason=reason)

    async def _attempt(self, http: aiohttp.ClientSession, row: Any) -> tuple[Attempt, Channel]:
        try:
            sent = self.sealer.open(row["sealed_referral"])
        except SealError:
            return Attempt(False, True, None, "the referral cannot be opened (key?)"), "email"
        now = datetime.now(UTC)
        body = payload(row, sent, now)
        with logs.sensitive(sent.get("name"), sent.get("email"), sent.get("note")):
            if row["callback_url"]:
                return await self._post(http, row, body, now), "callback"
            if row["contact_email"]:
                return await self._email(row["contact_email"], body), "email"
        return Attempt(False, False, None, "the company has no callback URL or contact email"), (
            "email"
        )

    async def _post(
        self, http: aiohttp.ClientSession, row: Any, body: dict[str, Any], now: datetime
    ) -> Attempt:
        try:
            secret = self.sealer.open(row["callback_secret_sealed"])["secret"]
        except (SealError, KeyError, TypeError):
            return Attempt(False, True, None, "the delivery secret cannot be opened")
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        webhook_id = f"msg_{row['referral_id'].hex}"
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "passaparola-referrals/1",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, data),
        }
        try:
            async with http.post(
                row["callback_url"], data=data, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Attempt(False, False, None, type(exc).__name__)
        if 200 <= status < 300:
            return Attempt(True, False, status, None)
        # The company says no for good (gone, bad request): retrying will not help.
        permanent = 400 <= status < 500 and status not in (408, 409, 425, 429)
        return Attempt(False, permanent, status, f"HTTP {status}")

    async def _email(self, to: str, body: dict[str, Any]) -> Attempt:
        s = self.settings
        try:
            msg = email_message(s, to, body)
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                timeout=SMTP_TIMEOUT_S,
            )
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            return Attempt(False, permanent, exc.code, f"SMTP {exc.code}")
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            return Attempt(False, False, None, type(exc).__name__)
        return Attempt(True, False, 250, None)


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    """ServiceSpec.background entry point."""
    deliverer = Deliverer(runtime.pool, runtime.settings)
    runtime.extras["referrals"] = deliverer
    await deliverer.run(stop)


# --- operators ------------------------------------------------------------------------------


async def list_referrals(conn: Connection, state: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT referral_id, posting_id, company_id, state, channel, attempts, reason,"
        " requested_at, settled_at, next_attempt_at FROM ingest.referrals"
        " WHERE $1::text IS NULL OR state = $1 ORDER BY requested_at DESC LIMIT 500",
        state,
    )
    return [dict(r) for r in rows]


async def retry(conn: Connection, referral_id: uuid.UUID) -> bool:
    """Send a failed referral again (its attempts start over)."""
    status = await conn.execute(
        "UPDATE ingest.referrals SET state = 'pending', attempts = 0, next_attempt_at = now(),"
        " settled_at = NULL, updated_at = now() WHERE referral_id = $1 AND state = 'failed'"
        " AND sealed_referral IS NOT NULL",
        referral_id,
    )
    return status.endswith(" 1")
