"""The email that tells a member their referral was delivered to the company.

``referral.settled`` with ``delivered`` adds one row (keyed by the referral:
sent once, whatever the redeliveries, ``consent.on_settled``); the one
delivery runner sends it like every email. It says what the member already
knows: the opening's title, company and city as their own email showed them,
and the link to the referral's page, which shows where it stands. Nothing of
the company's side (who received it, how) is in it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from services.notifier import tokens
from services.notifier.catalogs import translations
from services.notifier.compose import (
    WIRE_POLICY,
    serialise,
    validate_address,
)
from services.notifier.sanitise import clean_inline
from services.notifier.sender import link_key
from services.notifier.single_mails import Prepared, SingleMailSender
from services.notifier.wording import language_of
from shared import delivery, logs
from shared.db import Connection, Pool
from shared.sealing import SealError, sealer_for
from shared.service import Runtime
from shared.settings import Settings

log = logs.get_logger(__name__)

HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)


async def add(conn: Connection, referral_id: uuid.UUID) -> None:
    """The confirmation of a referral just delivered (once per referral)."""
    await conn.execute(
        "INSERT INTO notifier.referral_confirmations (referral_id, member_id, notification_id)"
        " SELECT referral_id, member_id, notification_id FROM notifier.referrals"
        " WHERE referral_id = $1 ON CONFLICT DO NOTHING",
        referral_id,
    )


def message(
    settings: Settings,
    referral_id: uuid.UUID,
    notification_id: uuid.UUID,
    language: str,
    contact: dict[str, Any],
    job: dict[str, Any],
    now: datetime,
) -> EmailMessage:
    """The confirmation, in the member's language. The subject is neutral (a
    colleague may glance at an inbox); the company is named in the body only."""
    _ = translations(language_of(language)).gettext
    to = validate_address(str(contact.get("email", "")))
    display, from_address = parseaddr(settings.mail_from)
    validate_address(from_address)
    domain = from_address.rpartition("@")[2]
    action = tokens.Action.INTERESTED
    token = tokens.issue(
        link_key(settings.secret_key), action, notification_id, tokens.DEFAULT_TTL[action], now=now
    )
    page = f"{settings.public_url.rstrip('/')}/i/{token}"
    name = clean_inline(contact.get("name"), limit=80)
    title = clean_inline(job.get("title"), limit=160)
    company = clean_inline(job.get("company_name"), limit=120)
    city = clean_inline(job.get("city"), limit=80)
    lines = [
        _("Hello {name},").format(name=name) if name else _("Hello,"),
        "",
        _("{company} has received your referral for this opening:").format(company=company),
        "",
        f"{title}" + (f" · {city}" if city else ""),
        "",
        _(
            "They now know who you are and will contact you directly if they want to go "
            "further. We tell them nothing else about you."
        ),
        "",
        _("Where your referral stands:"),
        page,
        "",
        _("Warm regards,"),
        _("the passaparola team"),
    ]
    msg = EmailMessage()
    msg["From"] = Address(display_name=display or "passaparola", addr_spec=from_address)
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = _("An update from passaparola")
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = f"<referral-confirmation-{referral_id}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("\n".join(lines), cte="quoted-printable")
    msg.policy = WIRE_POLICY
    return msg


class ConfirmationSender(SingleMailSender):
    """The delivery runner's adapter for referral confirmations."""

    table = delivery.Table(
        kind="confirmation",
        name="notifier.referral_confirmations",
        key="referral_id",
        due="pending",
        done="sent",
    )

    def __init__(self, pool: Pool, settings: Settings) -> None:
        super().__init__(pool, settings)
        self.sealer = sealer_for(settings.secret_keys)

    async def load(self, conn: Connection, claim: delivery.Claim) -> Any:
        row = await conn.fetchrow(
            "SELECT c.notification_id, m.language, m.local_language, m.sealed_contact,"
            " n.title, n.company_name, n.city"
            " FROM notifier.referral_confirmations c"
            " JOIN notifier.members m ON m.member_id = c.member_id"
            " JOIN notifier.notifications n ON n.id = c.notification_id"
            " WHERE c.referral_id = $1",
            claim.key,
        )
        if row is None or not row["sealed_contact"]:
            return delivery.Outcome("cancelled", "member or opening gone")
        try:
            contact = self.sealer.open(row["sealed_contact"])
        except SealError:
            return delivery.Outcome("cancelled", "contact unreadable")

        def build() -> bytes:
            msg = message(
                self.settings,
                claim.key,
                row["notification_id"],
                row["local_language"] or row["language"],
                contact,
                dict(row),
                datetime.now(UTC),
            )
            return serialise(msg, HEADERS)

        return self.prepare(
            contact.get("email"), (contact.get("email"), contact.get("name")), build
        )

    async def recorded(
        self,
        conn: Connection,
        claim: delivery.Claim,
        confirmation: Prepared | None,
        outcome: delivery.Outcome,
        state: str,
    ) -> None:
        if state == "sent":
            await conn.execute(
                "UPDATE notifier.referral_confirmations SET sent_at = now() WHERE referral_id = $1",
                claim.key,
            )


async def run_confirmations(runtime: Runtime, stop: asyncio.Event) -> None:
    """ServiceSpec.background entry point."""
    sender = ConfirmationSender(runtime.pool, runtime.settings)
    runtime.extras["confirmations"] = sender
    await sender.run(stop)
