"""Referrals (double opt-in) and forwards to colleagues: the notifier's side.

Referral: the "interested" link opens a page showing exactly what the company
will receive; only a POST carrying a fresh form token (CSRF) records the
referral and, in the same transaction, enqueues ``referral.requested`` with
that content sealed. Ingest delivers it and answers ``referral.settled``. The
member may withdraw while it is ``requested``: ``referral.withdrawn``.

Forward: the colleague's address is sealed into the row only until the email
goes out, then dropped; a keyed hash remains, for the member's daily limit,
"not the same colleague twice a day", and the colleague's opt-out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from asyncpg import Record

from services.notifier import confirmations, tokens
from services.notifier.compose import (
    WIRE_POLICY,
    serialise,
    validate_address,
)
from services.notifier.consent_wording import CONSENT
from services.notifier.sanitise import clean_inline, strip_controls
from services.notifier.sender import link_key
from services.notifier.single_mails import Prepared, SingleMailSender
from services.notifier.wording import language_of
from shared import delivery, logs, sealing
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    ReferralDelayed,
    ReferralRequested,
    ReferralSettled,
    ReferralWithdrawn,
)
from shared.outbox import enqueue
from shared.sealing import Sealer, SealError, derive_key, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

SCHEMA = "notifier"
SOURCE = "/notifier/referrals"
NOTE_MAX = 600
PROFILE_MAX = 300
FORM_MAX_AGE_S = 2 * 3600


# --- form tokens (CSRF) ------------------------------------------------------------------
# The pages have no session and no cookie: the link token in the path is the
# member's credential. A form must also carry a token we issued with the page
# it came from, bound to that link and recent, so that a POST forged elsewhere
# (or replayed from an old page) acts on nothing.


def form_keys(settings: Settings) -> list[bytes]:
    return [derive_key(s, "forms/v1") for s in settings.secret_keys]


def form_token(keys: Sequence[bytes], link: str, now: datetime) -> str:
    stamp = str(int(now.timestamp()))
    return f"{stamp}.{_form_mac(keys[0], link, stamp)}"


def form_token_valid(keys: Sequence[bytes], link: str, value: str, now: datetime) -> bool:
    stamp, _, mac = value.partition(".")
    if not stamp.isdigit() or not mac:
        return False
    age = now.timestamp() - int(stamp)
    if not -60 <= age <= FORM_MAX_AGE_S:
        return False
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(_form_mac(key, link, stamp), mac)
    return ok


def _form_mac(key: bytes, link: str, stamp: str) -> str:
    return hmac.new(key, f"{stamp}.{link}".encode(), hashlib.sha256).hexdigest()[:32]


# --- referrals ----------------------------------------------------------------------------


def clean_note(value: str) -> str:
    text = strip_controls(value.replace("\r\n", "\n")).strip()
    return text[:NOTE_MAX]


def clean_profile_url(value: str) -> str | None:
    """ "" -> None; a plain https URL -> itself; anything else -> ValueError."""
    url = value.strip()
    if not url:
        return None
    if len(url) > PROFILE_MAX or not url.startswith("https://") or any(c.isspace() for c in url):
        raise ValueError("not an https URL")
    return url


async def referral_of(conn: Connection, member_id: str, posting_id: str) -> Record | None:
    """The member's latest referral for this opening."""
    return await conn.fetchrow(
        "SELECT * FROM notifier.referrals WHERE member_id = $1 AND posting_id = $2"
        " ORDER BY requested_at DESC LIMIT 1",
        member_id,
        posting_id,
    )


async def request_referral(
    conn: Connection,
    sealer: Sealer,
    *,
    notification: Record,
    language: str,
    sent: dict[str, Any],
    now: datetime,
) -> uuid.UUID | None:
    """Record the referral and its event (caller's transaction); None if one
    is already live for this member and opening."""
    referral_id = uuid.uuid4()
    sealed = sealer.seal(sent)
    inserted = await conn.fetchval(
        "INSERT INTO notifier.referrals (referral_id, notification_id, member_id, posting_id,"
        " state, sealed_referral, requested_at) VALUES ($1, $2, $3, $4, 'requested', $5, $6)"
        " ON CONFLICT (member_id, posting_id) WHERE state IN ('requested', 'delivered')"
        " DO NOTHING RETURNING true",
        referral_id,
        notification["id"],
        notification["member_id"],
        notification["posting_id"],
        sealed,
        now,
    )
    if not inserted:
        return None
    event = ReferralRequested(
        referral_id=str(referral_id),
        posting_id=notification["posting_id"],
        member_id=notification["member_id"],
        language=language_of(language),
        consented_at=now.isoformat(timespec="seconds"),
        sealed_referral=sealed,
    )
    await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
    return referral_id


async def withdraw_referral(conn: Connection, referral_id: uuid.UUID, member_id: str) -> bool:
    posting_id = await conn.fetchval(
        "UPDATE notifier.referrals SET state = 'withdrawn', sealed_referral = NULL,"
        " settled_at = now(), updated_at = now() WHERE referral_id = $1 AND member_id = $2"
        " AND state = 'requested' RETURNING posting_id",
        referral_id,
        member_id,
    )
    if posting_id is not None:
        event = ReferralWithdrawn(
            referral_id=str(referral_id), member_id=member_id, posting_id=posting_id
        )
        await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
    return posting_id is not None


async def on_settled(event: Envelope, conn: Connection) -> None:
    settled = event.payload(ReferralSettled)
    try:
        referral_id = uuid.UUID(settled.referral_id)
    except ValueError:
        return
    # A withdrawal stays a withdrawal; otherwise ingest's word is final.
    status = await conn.execute(
        "UPDATE notifier.referrals SET state = $2, channel = $3, sealed_referral = NULL,"
        " settled_at = now(), updated_at = now() WHERE referral_id = $1"
        " AND state NOT IN ('withdrawn')",
        referral_id,
        settled.outcome,
        None if settled.channel == "none" else settled.channel,
    )
    if settled.outcome == "delivered" and status.endswith(" 1"):
        # The member hears of it by email too, once (keyed by the referral).
        await confirmations.add(conn, referral_id)


async def on_delayed(event: Envelope, conn: Connection) -> None:
    """Ingest's first attempt failed and it keeps trying: marked on a referral
    still ``requested`` only (a late event never reopens a settled one)."""
    delayed = event.payload(ReferralDelayed)
    try:
        referral_id = uuid.UUID(delayed.referral_id)
    except ValueError:
        return
    await conn.execute(
        "UPDATE notifier.referrals SET delayed_at = coalesce(delayed_at, now()),"
        " updated_at = now() WHERE referral_id = $1 AND state = 'requested'",
        referral_id,
    )


# --- forwards -----------------------------------------------------------------------------


def colleague_hashes(settings: Settings, address: str) -> list[bytes]:
    """Keyed hashes of the colleague's normalised address (recognisable, not
    reversible): under the current secret first, to store, then under the
    previous ones, so an opt-out recorded before a key rotation still holds."""
    return sealing.address_hashes(settings.secret_keys, "colleague/v1", address)


async def forwards_today(conn: Connection, member_id: str) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM notifier.forwards WHERE member_id = $1"
        " AND created_at > now() - interval '1 day'",
        member_id,
    )
    return int(count or 0)


async def forwarded_to_today(conn: Connection, member_id: str, digests: list[bytes]) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM notifier.forwards WHERE member_id = $1"
            " AND colleague_hash = ANY($2) AND created_at > now() - interval '1 day' LIMIT 1",
            member_id,
            digests,
        )
    )


async def add_forward(
    conn: Connection,
    sealer: Sealer,
    *,
    notification: Record,
    digests: list[bytes],
    send: dict[str, Any],
) -> uuid.UUID:
    """The forward to send (or, to a colleague who opted out, to silently not send)."""
    opted_out = await conn.fetchval(
        "SELECT true FROM notifier.colleague_optouts WHERE colleague_hash = ANY($1)", digests
    )
    digest = digests[0]
    forward_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO notifier.forwards (id, member_id, posting_id, notification_id,"
        " colleague_hash, sealed_send, state) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        forward_id,
        notification["member_id"],
        notification["posting_id"],
        notification["id"],
        digest,
        None if opted_out else sealer.seal(send),
        "blocked" if opted_out else "pending",
    )
    return forward_id


async def never_again(conn: Connection, forward_id: uuid.UUID) -> bool:
    digest = await conn.fetchval(
        "SELECT colleague_hash FROM notifier.forwards WHERE id = $1", forward_id
    )
    if digest is None:
        return False
    await conn.execute(
        "INSERT INTO notifier.colleague_optouts (colleague_hash) VALUES ($1)"
        " ON CONFLICT DO NOTHING",
        digest,
    )
    return True


def forward_message(
    settings: Settings, forward_id: uuid.UUID, send: dict[str, Any], now: datetime
) -> EmailMessage:
    """The forwarded opening. Headers hold only our values and the validated
    address; the forwarder's name, note and the company's text go in the body."""
    w = CONSENT[language_of(send.get("language"))]
    to = validate_address(str(send.get("address", "")))
    display, from_address = parseaddr(settings.mail_from)
    validate_address(from_address)
    domain = from_address.rpartition("@")[2]
    never = tokens.issue(
        link_key(settings.secret_key),
        tokens.Action.NEVER,
        forward_id,
        tokens.DEFAULT_TTL[tokens.Action.NEVER],
        now=now,
    )
    never_url = f"{settings.public_url.rstrip('/')}/x/{never}"
    name = clean_inline(send.get("from_name"), limit=80) or w.mail_someone
    job = send.get("job", {})
    lines = [w.mail_intro.format(name=name), ""]
    note = strip_controls(str(send.get("note") or "")).strip()
    if note:
        lines += [w.mail_note.format(name=name), "", note, ""]
    lines.append(clean_inline(job.get("title"), limit=160))
    place = ", ".join(
        x for x in (clean_inline(job.get("company"), 120), clean_inline(job.get("city"), 80)) if x
    )
    if place:
        lines.append(place)
    if job.get("apply_url"):
        lines.append(f"{w.mail_apply}: {clean_inline(job.get('apply_url'), limit=500)}")
    lines += ["", w.mail_join, settings.community_join_url, "", w.mail_why, w.mail_never, never_url]
    msg = EmailMessage()
    msg["From"] = Address(display_name=display or "passaparola", addr_spec=from_address)
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = w.mail_subject
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = f"<forward-{forward_id}@{domain}>"
    msg["List-Unsubscribe"] = f"<{never_url}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("\n".join(lines), cte="quoted-printable")
    msg.policy = WIRE_POLICY
    return msg


# The forward's whole header block: ``serialise`` refuses a message with any
# other (CVE-2024-6923: text folded into a header can add one).
FORWARD_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)


class ForwardSender(SingleMailSender):
    """The delivery runner's adapter for forwards: the sealed copy (the
    colleague's address) is dropped once the forward is sent or cancelled; a
    failed one keeps it, so that an operator can send it again."""

    table = delivery.Table(
        kind="forward",
        name="notifier.forwards",
        key="id",
        due="pending",
        done="sent",
        retryable="sealed_send IS NOT NULL",
    )

    def __init__(self, pool: Pool, settings: Settings) -> None:
        super().__init__(pool, settings)
        self.sealer = sealer_for(settings.secret_keys)

    async def load(self, conn: Connection, claim: delivery.Claim) -> Any:
        sealed = await conn.fetchval(
            "SELECT sealed_send FROM notifier.forwards WHERE id = $1", claim.key
        )
        try:
            send = self.sealer.open(sealed) if sealed else None
        except SealError:
            send = None
        if not isinstance(send, dict):
            return delivery.Outcome("cancelled", "nothing to send")
        return self.prepare(
            send.get("address"),
            (send.get("address"), send.get("from_name"), send.get("note")),
            lambda: serialise(
                forward_message(self.settings, claim.key, send, datetime.now(UTC)),
                FORWARD_HEADERS,
            ),
        )

    async def recorded(
        self,
        conn: Connection,
        claim: delivery.Claim,
        forward: Prepared | None,
        outcome: delivery.Outcome,
        state: str,
    ) -> None:
        if state in ("sent", "cancelled"):
            await conn.execute(
                "UPDATE notifier.forwards SET sealed_send = NULL,"
                " sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1",
                claim.key,
                state,
            )


async def run_forwards(runtime: Runtime, stop: asyncio.Event) -> None:
    """ServiceSpec.background entry point."""
    sender = ForwardSender(runtime.pool, runtime.settings)
    runtime.extras["forwards"] = sender
    await sender.run(stop)
