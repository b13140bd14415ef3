"""The referral a company receives by email: a candidate card, no I/O.

The card is written in the company's language, which is taken from the
opening's country (Italy: Italian, Sweden: Swedish, elsewhere English): the
company wrote the opening for that market, so its recruiters read that
language; ingest keeps no other language for a company.

Reply-To is the member's address: the member consented to be introduced to
this company for this opening, so replying reaches them directly. Every
header is checked against an allow-list before the message is handed to SMTP
(``wire_bytes``): the title, the member's name and address come from outside.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from shared.mail_wire import UnsafeMessage, check_header_block, one_address_each

WIRE_POLICY = email.policy.SMTP.clone(max_line_length=78)

HEADERS = (
    "From", "To", "Reply-To", "Subject", "Message-ID", "Auto-Submitted", "MIME-Version",
    "Content-Type",
)  # fmt: skip

# One address, nothing around it: what the Reply-To header may carry.
PLAIN_ADDRESS = re.compile(r"[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")

LANGUAGE_BY_COUNTRY = {"IT": "it", "SE": "sv"}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Candidate for {title}",
        "lead": "A member of the community asks to be introduced to you for this opening.",
        "opening": "Opening",
        "name": "Name",
        "email": "Email",
        "profile": "Profile",
        "note": "Their note",
        "consent": "They agreed to share these details with you on {date}.",
        "reply": "Reply to this email to write to them directly.",
    },
    "it": {
        "subject": "Candidatura per {title}",
        "lead": "Una persona della community chiede di esservi presentata per questa posizione.",
        "opening": "Posizione",
        "name": "Nome",
        "email": "Email",
        "profile": "Profilo",
        "note": "La sua nota",
        "consent": "Ha acconsentito a condividere questi dati con voi il {date}.",
        "reply": "Rispondete a questa email per scriverle direttamente.",
    },
    "sv": {
        "subject": "Kandidat till {title}",
        "lead": "En medlem i nätverket vill bli presenterad för er för den här tjänsten.",
        "opening": "Tjänst",
        "name": "Namn",
        "email": "E-post",
        "profile": "Profil",
        "note": "Meddelande",
        "consent": "Personen godkände att dela uppgifterna med er den {date}.",
        "reply": "Svara på det här mejlet för att skriva direkt till personen.",
    },
}


def company_language(country: str | None) -> str:
    return LANGUAGE_BY_COUNTRY.get((country or "").upper(), "en")


def _one_line(text: str, limit: int = 150) -> str:
    # A title is the company's text: a header gets it on one line, bounded.
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def card(body: dict[str, Any], language: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the card for one referral payload."""
    words = TEXT.get(language, TEXT["en"])
    data = body["data"]
    posting, candidate = data["posting"], data["candidate"]
    title = _one_line(str(posting["title"] or ""))
    opening = f"{title} ({posting['external_id']})"
    date = str(data["consented_at"])[:10]
    rows: list[tuple[str, str]] = [
        (words["opening"], opening),
        (words["name"], str(candidate["name"] or "")),
        (words["email"], str(candidate["email"] or "")),
    ]
    if candidate.get("profile_url"):
        rows.append((words["profile"], str(candidate["profile_url"])))
    note = str(candidate.get("note") or "")
    width = max(len(label) for label, _ in rows) + 2
    text = [words["lead"], ""]
    text += [f"  {label + ':':{width}}{value}" for label, value in rows]
    if note:
        text += ["", f"{words['note']}:", "", note]
    text += ["", words["consent"].format(date=date), words["reply"], ""]
    text.append(f"Referral id: {data['referral_id']}")

    def cell(label: str, value: str) -> str:
        shown = html.escape(value)
        if label == words["profile"] and re.match(r"https?://", value):
            shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
        elif label == words["email"]:
            shown = f'<a href="mailto:{html.escape(value, quote=True)}">{shown}</a>'
        return (
            f'<tr><th scope="row" style="text-align:left;padding:4px 12px 4px 0;'
            f'vertical-align:top">{html.escape(label)}</th><td style="padding:4px 0;'
            f'word-break:break-word">{shown}</td></tr>'
        )

    note_html = (
        f'<h2 style="font-size:16px">{html.escape(words["note"])}</h2>'
        f'<p style="white-space:pre-wrap">{html.escape(note)}</p>'
        if note
        else ""
    )
    page = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:600px;margin:0 auto;padding:16px">'
        f"<p>{html.escape(words['lead'])}</p><table>"
        + "".join(cell(label, value) for label, value in rows)
        + f"</table>{note_html}"
        f"<p>{html.escape(words['consent'].format(date=date))}<br>"
        f"{html.escape(words['reply'])}</p>"
        f'<p style="color:#666;font-size:12px">Referral id: {data["referral_id"]}</p>'
        "</body></html>"
    )
    return words["subject"].format(title=title), "\n".join(text), page


def message(mail_from: str, to: str, body: dict[str, Any], language: str) -> EmailMessage:
    """The card as a multipart email, From us, To the company, Reply-To the member."""
    data = body["data"]
    subject, text, page = card(body, language)
    msg = EmailMessage()
    name, address = parseaddr(mail_from)
    msg["From"] = Address(display_name=name or "passaparola", addr_spec=address)
    msg["To"] = Address(addr_spec=to)
    member = str(data["candidate"]["email"] or "")
    if not PLAIN_ADDRESS.fullmatch(member):
        raise UnsafeMessage("the member's address is not one plain address")
    try:
        # Address() refuses CR, LF and anything that is not one address.
        msg["Reply-To"] = Address(
            display_name=_one_line(str(data["candidate"]["name"] or ""), 100),
            addr_spec=member,
        )
    except (ValueError, IndexError, email.errors.HeaderParseError):
        raise UnsafeMessage("the member's address is not one plain address") from None
    msg["Subject"] = subject
    msg["Message-ID"] = f"<referral-{data['referral_id']}@{address.rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(page, subtype="html")
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as SMTP bytes, after proving its header block holds exactly
    HEADERS, once each, ASCII, one address in From, To and Reply-To."""
    try:
        data = msg.as_bytes(policy=WIRE_POLICY)
    except (ValueError, TypeError):
        raise UnsafeMessage("a header cannot be written safely") from None
    check_header_block(data, HEADERS)
    one_address_each(data, ("From", "To", "Reply-To"))
    return data
