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
is the referral id, the same on every retry; the body's schema is
``docs/referral-callback.schema.json``), or, without a callback, by email
to the company's contact address, as a candidate card (``referral_card``);
a company with neither fails at once ("no delivery channel"), for an
operator to fix and retry.

Delivery goes through the one delivery runner (``shared/delivery.py``): the
referral is claimed with a lease and committed, sent outside any
transaction, and the outcome recorded; transient failures are retried after
``PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS``, and after the last one (or a
permanent failure) the referral is ``failed``, listed by ``passaparola
deliveries list`` (or ``referral list --state failed``) and sent again with
``passaparola deliveries retry referral ID``. Each attempt is logged in
``ingest.referral_attempts``. Replicas never deliver one twice (the lease),
and a withdrawal that arrives during an attempt is retried until the outcome
is recorded, then finds it delivered (or withdraws it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib

from services.ingest import operators, referral_card
from services.ingest.signing import sign
from shared import delivery, logs, metrics
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    ReferralDelayed,
    ReferralRequested,
    ReferralSettled,
    ReferralWithdrawn,
)
from shared.mail_wire import UnsafeMessage
from shared.outbox import enqueue
from shared.sealing import Sealer, SealError, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

SCHEMA = "ingest"
SOURCE = "/ingest/referrals"
POLL_S = 1.0
CONCURRENCY = 4  # referrals in flight at once per process
HTTP_TIMEOUT_S = 10.0

SMTP_TIMEOUT_S = 20.0

Channel = Literal["callback", "email"]


class InFlight(Exception):
    """A referral is being delivered right now: the consumer retries the event."""


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
    # An attempt in progress (its lease) may be on the wire: the withdrawal
    # is retried by the consumer until the outcome is recorded, then either
    # withdraws a pending referral or finds it delivered. Events may overtake
    # each other: a withdrawal that comes first leaves a tombstone, and the
    # late request then finds the referral withdrawn.
    if await conn.fetchval(
        "SELECT true FROM ingest.referrals WHERE referral_id = $1 AND state = 'pending'"
        " AND leased_until > now()",
        referral_id,
    ):
        raise InFlight("a delivery attempt of this referral is in progress")
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


# --- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Referral:
    """What one attempt sends, read before the I/O (no lock held)."""

    row: Any
    sent: dict[str, Any]
    channel: Channel
    secret: str | None


class Deliverer:
    """The delivery runner's adapter for referrals: to the company's callback
    (signed, https) or, without one, by email to its contact address."""

    table = delivery.Table(
        kind="referral",
        name="ingest.referrals",
        key="referral_id",
        due="pending",
        done="delivered",
        retryable="sealed_referral IS NOT NULL",
    )

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.sealer: Sealer = sealer_for(settings.secret_keys)
        self._http: aiohttp.ClientSession | None = None
        self.runner = delivery.Runner(pool, settings, self, concurrency=CONCURRENCY, poll_s=POLL_S)

    @property
    def delivered(self) -> int:
        return self.runner.done

    async def run(self, stop: asyncio.Event) -> None:
        await self.runner.run(stop)

    async def deliver_due(self) -> int:
        return await self.runner.run_once()

    async def load(self, conn: Connection, claim: delivery.Claim) -> Any:
        row = await conn.fetchrow(
            "SELECT r.*, p.company_id AS posting_company, p.external_id, p.status,"
            " p.data->>'title' AS title, p.data->'location'->>'country' AS country,"
            " c.callback_url, c.callback_secret_sealed,"
            " c.contact_email, c.disabled_at"
            " FROM ingest.referrals r"
            " LEFT JOIN ingest.postings p ON p.id = r.posting_id"
            " LEFT JOIN ingest.companies c ON c.id = p.company_id"
            " WHERE r.referral_id = $1",
            claim.key,
        )
        assert row is not None, "a claimed referral is never deleted while claimed"
        if row["posting_company"] is None:
            return delivery.Outcome("cancelled", "posting unknown")
        if row["status"] == "closed":
            return delivery.Outcome("cancelled", "posting closed")
        if row["disabled_at"] is not None:
            return delivery.Outcome("cancelled", "company disabled")
        if row["sealed_referral"] is None:
            return delivery.Outcome("cancelled", "nothing to send")
        try:
            sent = self.sealer.open(row["sealed_referral"])
        except SealError:
            return delivery.Outcome("permanent", "the referral cannot be opened (key?)")
        if row["callback_url"]:
            if not callback_allowed(row["callback_url"], self.settings):
                return delivery.Outcome("permanent", "callback is not https")
            try:
                secret = self.sealer.open(row["callback_secret_sealed"])["secret"]
            except (SealError, KeyError, TypeError):
                return delivery.Outcome("permanent", "the delivery secret cannot be opened")
            return _Referral(row, sent, "callback", str(secret))
        if row["contact_email"]:
            return _Referral(row, sent, "email", None)
        # Nothing to try: an operator adds a channel (company set-callback)
        # and sends it again; the member's page says it was not delivered.
        return delivery.Outcome("permanent", "no delivery channel")

    async def deliver(self, referral: _Referral) -> delivery.Outcome:
        now = datetime.now(UTC)
        body = payload(referral.row, referral.sent, now)
        sent = referral.sent
        with logs.sensitive(sent.get("name"), sent.get("email"), sent.get("note")):
            if referral.channel == "callback":
                assert referral.secret is not None
                return await self._post(referral.row, referral.secret, body, now)
            language = referral_card.company_language(referral.row["country"])
            return await self._email(referral.row["contact_email"], body, language)

    async def recorded(
        self,
        conn: Connection,
        claim: delivery.Claim,
        referral: _Referral | None,
        outcome: delivery.Outcome,
        state: str,
    ) -> None:
        channel = referral.channel if referral is not None else None
        company = referral.row["posting_company"] if referral is not None else None
        if referral is not None:
            await conn.execute(
                "INSERT INTO ingest.referral_attempts (referral_id, attempt, channel, status,"
                " error) VALUES ($1, $2, $3, $4, $5)",
                claim.key,
                claim.attempt,
                channel,
                outcome.code,
                outcome.reason,
            )
        # Delivered or cancelled: the sealed copy has done its work. A failed
        # one keeps it, so an operator can send it again.
        await conn.execute(
            "UPDATE ingest.referrals SET channel = coalesce($2, channel),"
            " company_id = coalesce($3, company_id), updated_at = now(),"
            " sealed_referral = CASE WHEN $4 IN ('delivered', 'cancelled') THEN NULL"
            " ELSE sealed_referral END,"
            " settled_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() END"
            " WHERE referral_id = $1",
            claim.key,
            channel,
            company,
            state,
        )
        if state == "pending" and claim.attempt != 1:
            return
        member = await conn.fetchval(
            "SELECT member_id::text FROM ingest.referrals WHERE referral_id = $1", claim.key
        )
        if state == "pending":
            # The first attempt failed and another follows: the member's page
            # says the company has not taken it yet (once; later failures
            # change nothing there).
            delayed = ReferralDelayed(referral_id=str(claim.key), member_id=member or "")
            await enqueue(conn, SCHEMA, Envelope.wrap(delayed, source=SOURCE))
            return
        settled: Literal["delivered", "failed", "cancelled"] = (
            "delivered" if state == "delivered" else "failed" if state == "failed" else "cancelled"
        )
        await _settled(conn, claim.key, member or "", settled, channel)
        if state != "cancelled":
            metrics.observe_referral("sent" if state == "delivered" else "failed")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        return self._http

    async def _post(
        self, row: Any, secret: str, body: dict[str, Any], now: datetime
    ) -> delivery.Outcome:
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
            async with self._session().post(
                row["callback_url"], data=data, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
        except delivery.HTTP_ERRORS as exc:
            return delivery.classify_http_error(exc)
        return delivery.classify_http(status)

    async def _email(self, to: str, body: dict[str, Any], language: str) -> delivery.Outcome:
        s = self.settings
        try:
            msg = referral_card.message(s.mail_from, to, body, language)
            data = referral_card.wire_bytes(msg)
        except UnsafeMessage:
            # The reason names no value: it is read by operators.
            return delivery.Outcome("permanent", "the card's headers are not safe to send")
        try:
            await aiosmtplib.send(
                data,
                sender=parseaddr(s.mail_from)[1],
                recipients=[to],
                hostname=s.smtp_host,
                port=s.smtp_port,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                timeout=SMTP_TIMEOUT_S,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return delivery.classify_smtp(exc)
        return delivery.Outcome("done", None, 250)


def callback_allowed(url: str, settings: Settings) -> bool:
    """https, or plain http to a loopback host where the settings allow it
    (development: the company's receiver runs on the same machine)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return (
        parts.scheme == "http"
        and settings.loopback_http_callbacks
        and (parts.hostname or "") in operators.LOOPBACK_HOSTS
    )


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
    return await delivery.retry(conn, Deliverer.table, referral_id)
