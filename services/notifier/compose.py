"""Building the member's email: one instant match, or a digest of several.

Discretion and header safety shape everything here:

- Headers are built only from our own constants and validated values: the
  member's address (one plain addr-spec), our sender address and mail domain,
  the notification UUID, our own link URL and a date Babel formatted. Text
  that came from a company (title, company name, city, skills) goes only into
  the bodies. This is what protects us from CVE-2024-6923 on Python 3.11.7,
  where an encoded word such as ``=?UTF-8?Q?=0A?=Bcc: x@y`` in a header value
  becomes a real header when the message is serialised.
- ``serialise`` is the only way bytes should leave this module: it checks that
  the header block holds exactly the intended headers and one recipient, so a
  future change that lets company text into a header fails loudly instead of
  mailing a stranger.
- Subject, sender name and preview text are neutral (no company, no title, no
  "job"): they are what a colleague sees over the member's shoulder.
- No tracking pixels, no redirecting links, no images at all.
"""

from __future__ import annotations

import binascii
import dataclasses
import email.policy
import functools
import json
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import jinja2
from babel.dates import format_date, format_skeleton
from markupsafe import Markup, escape

from services.notifier.catalogs import translations
from services.notifier.explain import explain
from services.notifier.sanitise import clean_inline, strip_controls
from services.notifier.schedule import member_zone
from services.notifier.wording import (
    BABEL_LOCALE,
    WORDING,
    Language,
    digest_intro,
    language_of,
)
from shared.mail_wire import UnsafeMessage, check_header_block, one_address_each

__all__ = [
    "EXPECTED_HEADERS",
    "SENDER_NAME",
    "WIRE_POLICY",
    "InvalidAddress",
    "Job",
    "JobLinks",
    "MemberLinks",
    "Recipient",
    "Sender",
    "UnsafeMessage",
    "compose_digest",
    "compose_instant",
    "digest_bytes",
    "instant_bytes",
    "serialise",
    "validate_address",
]

SENDER_NAME = "passaparola"

# Bodies are encoded under the SMTP policy (quoted-printable at 76 columns);
# the wire policy only lifts the header fold limit to RFC 5322's hard 998, so
# the long List-Unsubscribe URL stays one literal line: folded at 78, Python
# turns it into an RFC 2047 encoded word that mailbox providers do not read.
_BUILD_POLICY = email.policy.SMTP
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)

# The complete header block of every message, in order. ``serialise`` refuses
# anything else. Auto-Submitted (RFC 3834) and X-Auto-Response-Suppress
# (Exchange, common in the offices our members work in) stop out-of-office
# replies from answering a mail nobody reads replies to, without suppressing
# bounces, which we need.
EXPECTED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Language",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "MIME-Version",
    "Content-Type",
)

_TEMPLATES = Path(__file__).parent / "templates"
_PREHEADER_PADDING = 90  # see _layout.html.j2


class InvalidAddress(ValueError):
    """Not exactly one plain ASCII addr-spec; the message is not built."""


@dataclasses.dataclass(frozen=True, slots=True)
class Sender:
    address: str  # e.g. "aggiornamenti@passaparola.example"
    mail_domain: str  # right-hand side of Message-ID


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    language: str  # "it", "sv" or "en"; anything else reads English
    timezone: str  # IANA name; dates in the body are the member's dates
    first_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class JobLinks:
    """Per-job links, already signed (see ``tokens``)."""

    interested: str
    not_for_me: str
    forward: str
    # The opening page (description, salary, deadline); empty: no such link.
    opening: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class MemberLinks:
    """Per-member links, already signed. ``unsubscribe`` also goes in List-Unsubscribe."""

    pause: str
    preferences: str
    unsubscribe: str


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """One matched opening. Every text field here came from a company: body only."""

    title: str
    company: str
    city: str | None
    explanation: Mapping[str, Any]
    links: JobLinks
    posted_on: date | None = None


def compose_instant(
    *,
    notification_id: uuid.UUID,
    sender: Sender,
    recipient: Recipient,
    job: Job,
    links: MemberLinks,
    now: datetime,
) -> EmailMessage:
    """The email for one match, sent as soon as the member's quiet hours allow."""
    return _message(_prepare("instant", notification_id, sender, recipient, [job], links, now))


def compose_digest(
    *,
    notification_id: uuid.UUID,
    sender: Sender,
    recipient: Recipient,
    jobs: Sequence[Job],
    links: MemberLinks,
    now: datetime,
    period: Literal["daily", "weekly"],
) -> EmailMessage:
    """One email for several matches, in the order given (best first)."""
    _check_digest(jobs, period)
    return _message(_prepare(period, notification_id, sender, recipient, list(jobs), links, now))


def instant_bytes(
    *,
    notification_id: uuid.UUID,
    sender: Sender,
    recipient: Recipient,
    job: Job,
    links: MemberLinks,
    now: datetime,
) -> bytes:
    """``serialise(compose_instant(...))``, the fast way: the same headers and
    bodies, written straight to wire bytes (see ``_wire``)."""
    return _wire(_prepare("instant", notification_id, sender, recipient, [job], links, now))


def digest_bytes(
    *,
    notification_id: uuid.UUID,
    sender: Sender,
    recipient: Recipient,
    jobs: Sequence[Job],
    links: MemberLinks,
    now: datetime,
    period: Literal["daily", "weekly"],
) -> bytes:
    """``serialise(compose_digest(...))``, the fast way (see ``_wire``)."""
    _check_digest(jobs, period)
    return _wire(_prepare(period, notification_id, sender, recipient, list(jobs), links, now))


def _check_digest(jobs: Sequence[Job], period: str) -> None:
    if not jobs:
        raise ValueError("a digest needs at least one job")
    if period not in ("daily", "weekly"):
        raise ValueError("period is 'daily' or 'weekly'")


def serialise(msg: EmailMessage, expected: tuple[str, ...] = EXPECTED_HEADERS) -> bytes:
    """The message as CRLF bytes for SMTP, after proving its header block is
    exactly ``expected`` (names, once each) and intact.

    Hand these bytes to the SMTP client as they are (``sendmail(from, [to],
    data)``), rather than letting the client serialise the message again.
    """
    data = msg.as_bytes(policy=WIRE_POLICY)
    check_header_block(data, expected)
    for field, address in zip(("To", "From"), one_address_each(data, ("To", "From")), strict=True):
        try:
            validate_address(address)
        except InvalidAddress:
            raise UnsafeMessage(f"{field} address changed in serialisation") from None
    return data


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def validate_address(value: str) -> str:
    """``value`` if it is exactly one plain ``local@domain`` addr-spec, else ``InvalidAddress``.

    Deliberately narrower than RFC 5322: no display name, no comments, no
    quoted local part, ASCII only (no SMTPUTF8), and nothing that looks like
    an RFC 2047 encoded word, which is the shape of CVE-2024-6923.
    """
    if not isinstance(value, str) or len(value) > 254:
        raise InvalidAddress("not an address")
    local, at, domain = value.rpartition("@")
    if (
        not at
        or len(local) > 64
        or len(domain) > 253
        or not _LOCAL.fullmatch(local)
        or not _DOMAIN.fullmatch(domain)
        or "=?" in local
        or "?=" in local
    ):
        raise InvalidAddress("not a plain addr-spec")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class _Parts:
    """Everything one email is made of, every header value already validated."""

    from_address: str
    to_address: str
    subject: str
    date: str
    message_id: str
    unsubscribe: str
    language: Language
    boundary: str
    # Compiled (``_compile``): the text with, for ``_wire``, its lines that are
    # the same for every member already encoded.
    text: _Body
    html: _Body


def _prepare(
    kind: Literal["instant", "daily", "weekly"],
    notification_id: uuid.UUID,
    sender: Sender,
    recipient: Recipient,
    jobs: list[Job],
    links: MemberLinks,
    now: datetime,
) -> _Parts:
    if not isinstance(notification_id, uuid.UUID):
        raise TypeError("notification_id must be a UUID")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    to_address = validate_address(recipient.address)
    from_address = validate_address(sender.address)
    mail_domain = sender.mail_domain
    if not isinstance(mail_domain, str) or not _DOMAIN.fullmatch(mail_domain):
        raise ValueError("mail_domain must be a plain domain name")
    unsubscribe = _link(links.unsubscribe)

    language = language_of(recipient.language)
    local_day = now.astimezone(member_zone(recipient.timezone)).date()
    # The only variable part of the subject is a date Babel wrote from our clock.
    subject = _subject(kind, language, local_day)
    text, html = _bodies(kind, language, recipient, jobs, links, local_day, subject)
    return _Parts(
        from_address=from_address,
        to_address=to_address,
        subject=subject,
        date=format_datetime(now.astimezone(UTC)),
        message_id=f"<{notification_id}@{mail_domain.lower()}>",
        unsubscribe=unsubscribe,
        language=language,
        # "=_" can never occur in a quoted-printable body, so this boundary is
        # safe whatever the company wrote, and a resend of the same
        # notification is byte-for-byte the same message.
        boundary=f"=_passaparola_{notification_id.hex}",
        text=text,
        html=html,
    )


@functools.lru_cache(maxsize=256)
def _subject(kind: str, language: Language, local_day: date) -> str:
    wording = WORDING[language]
    template = wording.subject_weekly if kind == "weekly" else wording.subject
    return template.format(date=format_skeleton("MMMMd", local_day, locale=BABEL_LOCALE[language]))


def _message(parts: _Parts) -> EmailMessage:
    msg = EmailMessage(policy=_BUILD_POLICY)
    msg["From"] = Address(display_name=SENDER_NAME, addr_spec=parts.from_address)
    msg["To"] = Address(addr_spec=parts.to_address)
    msg["Subject"] = parts.subject
    msg["Date"] = parts.date
    msg["Message-ID"] = parts.message_id
    msg["List-Unsubscribe"] = f"<{parts.unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(_text(parts.text), subtype="plain", cte="quoted-printable")
    msg.add_alternative(_text(parts.html), subtype="html", cte="quoted-printable")
    msg.set_boundary(parts.boundary)
    # After the content: set_content clears every Content-* header.
    msg["Content-Language"] = parts.language
    msg.policy = WIRE_POLICY
    return msg


def _wire(parts: _Parts) -> bytes:
    """The message's bytes, written directly rather than through ``EmailMessage``.

    Building an ``EmailMessage``, serialising it and parsing it back to check
    it cost most of an email's time. Here every header value was validated
    before it was written (``_prepare``: plain addr-specs, a UUID, a domain,
    one of our URLs, a language code; the subject is ours and encoded by the
    email package itself), so the check that remains is the header block's
    shape, which catches a header that should not be there. The bodies are
    quoted-printable (``binascii``), so "=_" cannot occur in them and the
    boundary is safe. ``tests/notifier/test_compose_wire.py`` keeps this
    equal, header for header and body for body, to ``serialise(_message())``.
    """
    head = (
        f"From: {SENDER_NAME} <{parts.from_address}>\r\n"
        f"To: {parts.to_address}\r\n"
        f"{_subject_line(parts.subject)}"
        f"Date: {parts.date}\r\n"
        f"Message-ID: {parts.message_id}\r\n"
        f"List-Unsubscribe: <{parts.unsubscribe}>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "Auto-Submitted: auto-generated\r\n"
        "X-Auto-Response-Suppress: OOF, AutoReply\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{parts.boundary}"\r\n'
        f"Content-Language: {parts.language}\r\n"
        "\r\n"
    ).encode("ascii")
    boundary = parts.boundary.encode("ascii")
    data = b"".join(
        (
            head,
            b"--",
            boundary,
            b'\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _encode(parts.text),
            b"\r\n--",
            boundary,
            b'\r\nContent-Type: text/html; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _encode(parts.html),
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )
    check_header_block(data, EXPECTED_HEADERS)
    return data


def _quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable (RFC 2045: lines of at most 76), CRLF line ends,
    ending with a line break as the email package's bodies do."""
    if not text.endswith("\n"):
        text += "\n"
    raw = text.replace("\r\n", "\n").encode("utf-8")
    # istext: "\n" is a line break; a lone "\r" is encoded as =0D.
    encoded = binascii.b2a_qp(raw, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


@functools.lru_cache(maxsize=256)
def _subject_line(subject: str) -> str:
    """The Subject header line as the email package folds and encodes it
    (RFC 2047 for non-ASCII); the same few subjects recur all day."""
    msg = EmailMessage(policy=WIRE_POLICY)
    msg["Subject"] = subject
    head, _, _ = msg.as_bytes().partition(b"\r\n\r\n")
    return head.decode("ascii") + "\r\n"


# --- bodies: rendered once per shape, personalised by substitution -------------------

# Rendering the templates is most of an email's cost, and most of what they
# print is the same for every member sent the same opening in the same
# language. So bodies are rendered with stand-ins for the per-member values
# (the first name and the signed links), cached by everything else they print,
# and the stand-ins are then replaced by the member's values, escaped as the
# templates would have escaped them. The stand-ins carry a per-process random
# part so no company text can contain one. Each is ``https://<random>.invalid/
# <key>~``: a member link's or a job link's number, "n" for the first name,
# "c0".."c3" for a card's own links, "s<i>" for a digest's i-th card.
_STANDIN = secrets.token_hex(12)
_STANDINS = re.compile(rf"https://{_STANDIN}\.invalid/([a-z]?[0-9]*)~")
_RENDERED_BODIES = 2048  # bodies kept (two formats); a bound, since keys hold company text


def _standin(key: str) -> str:
    return f"https://{_STANDIN}.invalid/{key}~"


def _standin_link(i: int) -> str:
    return _standin(str(i))


_NAME = _standin("n")


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    """Where a member's value goes in a compiled body."""

    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Lines:
    """Whole lines of a body that are the same for every member: their text
    and, encoded once, their quoted-printable form."""

    text: str
    encoded: bytes


_Segment = str | _Lines | _Key
# A body, compiled: literal text, whole lines already encoded, and the places
# of the member's values. Filled, only ``str`` and ``_Lines`` remain.
_Body = tuple[_Segment, ...]


def _compile(text: str) -> _Body:
    """``text`` split at its stand-ins, each run of whole lines between two of
    them encoded once. Quoted-printable works line by line (a line's encoding
    depends on that line alone), so a body's encoding is its lines' encodings
    put together: only the lines that hold a member's value are encoded per
    member (``_encode``)."""
    parts = _STANDINS.split(text)
    body: list[_Segment] = []
    for i, part in enumerate(parts):
        if i % 2:
            body.append(_Key(part))
        elif "\r" in part or part.count("\n") < 2:
            # No whole line here (or a carriage return, which the encoder
            # reads with its neighbours): encoded with the member's values.
            if part:
                body.append(part)
        else:
            first, last = part.index("\n") + 1, part.rindex("\n") + 1
            body += [part[:first], _Lines(part[first:last], _quoted_printable(part[first:last]))]
            if last < len(part):
                body.append(part[last:])
    return tuple(body)


def _fill(body: _Body, values: Mapping[str, str | _Body]) -> _Body:
    """The member's values in their places (a card's body inlined)."""
    filled: list[_Segment] = []
    for segment in body:
        if isinstance(segment, _Key):
            value = values[segment.name]
            if isinstance(value, str):
                filled.append(value)
            else:
                filled += value
        else:
            filled.append(segment)
    return tuple(filled)


def _text(body: _Body) -> str:
    return "".join(s.text if isinstance(s, _Lines) else s for s in body if not isinstance(s, _Key))


def _encode(body: _Body) -> bytes:
    """``_quoted_printable(_text(body))``, encoding only what was not encoded before."""
    out: list[bytes] = []
    line: list[str] = []
    for segment in body:
        if isinstance(segment, _Lines):
            if line:  # ends at a line break: a _Lines run starts a line
                out.append(_quoted_printable("".join(line)))
                line = []
            out.append(segment.encoded)
        elif isinstance(segment, str):
            line.append(segment)
    if line or not out:
        out.append(_quoted_printable("".join(line)))
    return b"".join(out)


def _bodies(
    kind: str,
    language: Language,
    recipient: Recipient,
    jobs: list[Job],
    links: MemberLinks,
    local_day: date,
    subject: str,
) -> tuple[_Body, _Body]:
    name = clean_inline(recipient.first_name, limit=60)
    member = {"0": _link(links.pause), "1": _link(links.preferences), "2": _link(links.unsubscribe)}
    if name:
        member["n"] = name
    job_links = [
        [
            _link(job.links.interested),
            _link(job.links.not_for_me),
            _link(job.links.forward),
            # A job without an opening page prints no such link (its stand-in is never printed).
            _link(job.links.opening) if job.links.opening else "",
        ]
        for job in jobs
    ]
    keys = tuple(map(_job_key, jobs))
    openings = tuple(bool(job.links.opening) for job in jobs)
    bodies: list[_Body] = []
    for fmt in ("txt", "html"):
        html = fmt == "html"
        values: dict[str, str | _Body] = {
            k: str(escape(v)) if html else v for k, v in member.items()
        }
        if kind == "instant":
            shape = _Shape(kind, language, bool(name), local_day, subject, keys, openings)
            for i, value in enumerate(job_links[0]):
                values[str(3 + i)] = str(escape(value)) if html else value
            bodies.append(_fill(_render_shape(fmt, shape), values))
            continue
        # A digest's combination of openings seldom repeats, but its frame
        # (everything around the cards) and its cards do: the frame is
        # rendered once per kind, language, day, greeting and number of
        # cards, each card once per opening and language, and each is
        # personalised apart.
        for i, (key, has, own) in enumerate(zip(keys, openings, job_links, strict=True)):
            card = {f"c{j}": str(escape(v)) if html else v for j, v in enumerate(own)}
            values[f"s{i}"] = _fill(_standin_card(fmt, language, key, has), card)
        frame = _digest_frame(fmt, kind, language, bool(name), local_day, subject, len(jobs))
        bodies.append(_fill(frame, values))
    return bodies[0], bodies[1]


# What a job card prints, but its links: title, company, city, posted on, and
# the explanation as canonical JSON.
_JobKey = tuple[object, object, object, date | None, str]


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Everything an instant email's body prints but the member's first name and links."""

    kind: str
    language: Language
    named: bool
    local_day: date
    subject: str
    jobs: tuple[_JobKey, ...]
    # Per job: whether it links to its opening page (the card prints differently).
    openings: tuple[bool, ...]


def _job_key(job: Job) -> _JobKey:
    posted = job.posted_on if isinstance(job.posted_on, date) else None
    explanation = json.dumps(job.explanation, sort_keys=True, default=str)
    return (job.title, job.company, job.city, posted, explanation)


@functools.lru_cache(maxsize=_RENDERED_BODIES)
def _render_shape(fmt: Literal["txt", "html"], shape: _Shape) -> _Body:
    count = 3 + _JOB_LINKS * len(shape.jobs)
    context = _context(
        shape.kind,
        shape.language,
        _NAME if shape.named else "",
        [_job_text(*job, shape.language) for job in shape.jobs],
        [_standin_link(i) for i in range(count)],
        shape.openings,
        shape.local_day,
        shape.subject,
    )
    return _compile(_render(fmt, shape.kind, shape.language, context))


_FRAMES = 256  # kinds x languages x days x greetings x card counts: a few a day


@functools.lru_cache(maxsize=_FRAMES)
def _digest_frame(
    fmt: Literal["txt", "html"],
    kind: str,
    language: Language,
    named: bool,
    local_day: date,
    subject: str,
    cards: int,
) -> _Body:
    """A digest's body with a stand-in for each card: nothing in it came from a company."""
    context = _context(
        kind,
        language,
        _NAME if named else "",
        [{} for _ in range(cards)],
        [_standin_link(i) for i in range(3 + _JOB_LINKS * cards)],
        (False,) * cards,
        local_day,
        subject,
    )
    for i, job in enumerate(context["jobs"]):
        # Printed as it is, escaped or not (letters, digits and URL punctuation).
        job["card"] = _standin(f"s{i}")
    return _compile(_render(fmt, kind, language, context))


_RENDERED_CARDS = 4096  # a bound, since keys hold company text
# A card's own links, whatever its place in the digest.
_CARD_LINKS = [_standin(f"c{j}") for j in range(4)]  # interested, not for me, forward, opening


@functools.lru_cache(maxsize=_RENDERED_CARDS)
def _standin_card(
    fmt: Literal["txt", "html"], language: Language, job: _JobKey, has_opening: bool
) -> _Body:
    texts = {**_job_text(*job, language), "links": _job_links(_CARD_LINKS, has_opening)}
    return _compile(str(_card(fmt, language, texts)))


def _card(fmt: Literal["txt", "html"], language: Language, job: dict[str, Any]) -> str:
    """One job card, as the digest templates print it (``_job.*.j2``)."""
    macro = _environment(fmt, language).get_template(f"_job.{fmt}.j2").module.card  # type: ignore[attr-defined]
    return macro(job)  # type: ignore[no-any-return]


def _context(
    kind: str,
    language: Language,
    name: str,
    jobs: list[dict[str, Any]],
    links: list[str],
    openings: tuple[bool, ...],
    local_day: date,
    subject: str,
) -> dict[str, Any]:
    """What the templates print; ``jobs`` as ``_job_text`` gives them, without links."""
    wording = WORDING[language]
    heading = {
        "instant": wording.heading_instant,
        "daily": wording.heading_daily,
        "weekly": wording.heading_weekly,
    }[kind]
    return {
        "lang": language,
        "subject": subject,
        "preheader": wording.preheader,
        "greeting": wording.greeting_named.format(name=name) if name else wording.greeting,
        "heading": heading,
        "intro": wording.intro_instant if kind == "instant" else digest_intro(language, len(jobs)),
        "date_label": format_date(local_day, format="long", locale=BABEL_LOCALE[language]),
        "padding": _PREHEADER_PADDING,
        "jobs": [
            {**job, "links": _job_links(links[3 + _JOB_LINKS * i : 3 + _JOB_LINKS * (i + 1)], has)}
            for i, (job, has) in enumerate(zip(jobs, openings, strict=True))
        ],
        "links": {"pause": links[0], "preferences": links[1], "unsubscribe": links[2]},
    }


_JOB_LINKS = 4  # interested, not for me, forward, opening page


def _job_links(links: list[str], has_opening: bool) -> dict[str, str | None]:
    interested, not_for_me, forward, opening = links
    return {
        "interested": interested,
        "not_for_me": not_for_me,
        "forward": forward,
        "opening": opening if has_opening else None,
    }


@functools.lru_cache(maxsize=_RENDERED_BODIES)
def _job_text(
    title: object,
    company: object,
    city: object,
    posted_on: date | None,
    explanation: str,
    language: Language,
) -> dict[str, Any]:
    """What a job card prints, but its links (callers copy it)."""
    wording = WORDING[language]
    posted = None
    if posted_on is not None:
        posted = wording.posted_on.format(
            date=format_date(posted_on, format="long", locale=BABEL_LOCALE[language])
        )
    return {
        "title": clean_inline(title, limit=160),
        "company": clean_inline(company, limit=120),
        "city": clean_inline(city, limit=80),
        "posted": posted,
        "reasons": explain(json.loads(explanation), language),
    }


_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _link(url: str) -> str:
    """One of our own signed links: https (http only to localhost, for the local sink)."""
    if not isinstance(url, str) or len(url) > 2000 or not _URL_CHARS.fullmatch(url):
        raise ValueError("link must be a plain absolute URL")
    # Scheme and host depend on the origin alone, and every link of a process
    # shares one: judged once per origin (a link without one is judged whole).
    origin = _ORIGIN.match(url)
    if not _allowed_origin(origin.group() if origin else url):
        raise ValueError("link must be https")
    return url


_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


@functools.lru_cache(maxsize=64)
def _allowed_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    local = parts.hostname in ("localhost", "127.0.0.1")
    return bool(parts.hostname) and (parts.scheme == "https" or (parts.scheme == "http" and local))


def _render(
    fmt: Literal["txt", "html"], kind: str, language: Language, context: dict[str, Any]
) -> str:
    name = "instant" if kind == "instant" else "digest"
    if name == "digest":
        # The digest templates print each job's card as given; rendered here
        # unless the caller brought it (``_render_shape``, from its cache).
        jobs = [
            job if "card" in job else {**job, "card": _card(fmt, language, job)}
            for job in context["jobs"]
        ]
        context = {**context, "jobs": jobs}
    return _environment(fmt, language).get_template(f"{name}.{fmt}.j2").render(context)


@functools.cache
def _environment(fmt: Literal["txt", "html"], language: Language) -> jinja2.Environment:
    # One environment per format and language: Jinja2's i18n extension binds
    # the catalog to the environment, and six small environments cost less
    # than installing a catalog on every render. In both formats, every printed
    # value also loses its control characters: a second line of defence behind
    # ``clean_inline``.
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(_TEMPLATES),
        "extensions": ["jinja2.ext.i18n"],
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "finalize": _finalize,
        "auto_reload": False,
    }
    if fmt == "html":
        environment = jinja2.Environment(autoescape=True, **options)
    else:
        # The plain-text part is not HTML: escaping would print "&amp;" to the reader.
        environment = jinja2.Environment(autoescape=False, **options)  # noqa: S701
    # newstyle: a placeholder left unfilled is an error rather than a silent
    # "%(x)s". Jinja2 prints catalog text as written, unescaped: it is ours,
    # and a test keeps markup characters out of the catalogs.
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        return _strip_controls(value)
    return value


# The values a body prints are nearly all the same few hundred strings (the
# catalog's, the openings' texts and reasons, the stand-ins): a digest's shape
# seldom repeats, but its values do, and checking each character of each was
# half of rendering one. Bounded, since the keys hold company text.
_strip_controls = functools.lru_cache(maxsize=8192)(strip_controls)
