"""Render sample emails to files, to look at them or screenshot them.

    python -m services.notifier.preview [DIR]      # default /tmp/notifier-preview

Writes ``{lang}.html`` / ``.txt`` / ``.eml`` for an instant email and
``{lang}-digest.*`` for a weekly digest, in Italian, Swedish and English. The
companies and people are invented; the links carry real-shaped tokens signed
with a throwaway key.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from services.notifier import tokens
from services.notifier.compose import (
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    compose_digest,
    compose_instant,
    serialise,
)
from services.notifier.wording import LANGUAGES, Language

__all__ = ["body_text", "sample_jobs", "sample_links", "sample_messages", "write_previews"]

_NOW = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
_SECRET = b"preview-only-secret-never-used-for-real-mail"
_BASE = "https://links.passaparola.example"
_SENDER = Sender(address="aggiornamenti@passaparola.example", mail_domain="passaparola.example")
_PEOPLE: dict[Language, tuple[str, str, str]] = {
    "it": ("giulia.rossi@example.it", "Giulia", "Europe/Rome"),
    "sv": ("karin.lindqvist@example.se", "Karin", "Europe/Stockholm"),
    "en": ("sarah.obrien@example.com", "Sarah", "Europe/Rome"),
}


def _url(action: tokens.Action, subject: uuid.UUID, path: str) -> str:
    token = tokens.issue(_SECRET, action, subject, tokens.DEFAULT_TTL[action], now=_NOW)
    return f"{_BASE}/{path}/{token}"


def sample_links(member_id: uuid.UUID) -> MemberLinks:
    return MemberLinks(
        pause=_url(tokens.Action.PAUSE, member_id, "pause"),
        preferences=_url(tokens.Action.PREFERENCES, member_id, "p"),
        unsubscribe=_url(tokens.Action.UNSUBSCRIBE, member_id, "u"),
    )


def _job_links(notification_id: uuid.UUID) -> JobLinks:
    return JobLinks(
        interested=_url(tokens.Action.INTERESTED, notification_id, "i"),
        not_for_me=_url(tokens.Action.NOT_FOR_ME, notification_id, "n"),
        forward=_url(tokens.Action.FORWARD, notification_id, "f"),
    )


def sample_jobs(language: Language) -> list[Job]:
    city = {"it": "Milano", "sv": "Stockholm", "en": "Milano"}[language]
    member_languages = {"it": ["it", "en"], "sv": ["sv", "en"], "en": ["en", "it"]}[language]
    ns = uuid.UUID("6f1c2a8e-0000-4000-8000-000000000000")
    return [
        Job(
            title="Executive Assistant to the CEO",
            company="Ferretti & Bianchi S.p.A." if language != "sv" else "Nordhavn Kapital AB",
            city=city,
            explanation={
                "title": {
                    "posting_role": "executive-assistant",
                    "member_role": "executive-assistant",
                    "score": 94,
                },
                "languages": {"required": member_languages, "nice_matched": ["fr"]},
                "place": {"kind": "same_city", "city": city},
                "skills": ["SAP Concur", "board meeting minutes"],
                "seniority": {"posting": "senior", "member": "senior"},
            },
            links=_job_links(uuid.uuid5(ns, f"{language}-1")),
            posted_on=date(2025, 3, 3),
        ),
        Job(
            title="Personal Assistant to the Managing Partner",
            company="Studio Legale Moretti" if language != "sv" else "Ekelund & Partners",
            city=city,
            explanation={
                "title": {
                    "posting_role": "personal-assistant",
                    "member_role": "executive-assistant",
                    "score": 81,
                },
                "place": {"kind": "hybrid", "city": city},
                "languages": {"required": member_languages[:1]},
                "seniority": {"fit": "close"},
            },
            links=_job_links(uuid.uuid5(ns, f"{language}-2")),
            posted_on=date(2025, 2, 27),
        ),
        Job(
            title="Team Assistant, Strategy Office",
            company="Arcadia Foods Group" if language != "sv" else "Solberga Energi",
            city=None,
            explanation={
                "title": {"posting_role": "team-assistant", "member_role": "executive-assistant"},
                "place": {"kind": "remote"},
                "skills": ["Microsoft 365"],
            },
            links=_job_links(uuid.uuid5(ns, f"{language}-3")),
        ),
    ]


def sample_messages(language: Language) -> tuple[EmailMessage, EmailMessage]:
    """An instant email and a weekly digest for one invented member."""
    address, name, zone = _PEOPLE[language]
    recipient = Recipient(address=address, language=language, timezone=zone, first_name=name)
    ns = uuid.UUID("0b7e2f43-0000-4000-8000-000000000000")
    links = sample_links(uuid.uuid5(ns, f"member-{language}"))
    jobs = sample_jobs(language)
    instant = compose_instant(
        notification_id=uuid.uuid5(ns, f"instant-{language}"),
        sender=_SENDER,
        recipient=recipient,
        job=jobs[0],
        links=links,
        now=_NOW,
    )
    digest = compose_digest(
        notification_id=uuid.uuid5(ns, f"digest-{language}"),
        sender=_SENDER,
        recipient=recipient,
        jobs=jobs,
        links=links,
        now=_NOW + timedelta(days=3),
        period="weekly",
    )
    return instant, digest


def body_text(msg: EmailMessage, subtype: str) -> str:
    """The decoded text of the ``text/{subtype}`` alternative."""
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        raise LookupError(f"no text/{subtype} part")
    content = part.get_content()
    if not isinstance(content, str):
        raise LookupError(f"text/{subtype} part is not text")
    return content


def write_previews(directory: str | Path) -> list[Path]:
    """Write the sample emails of every language into ``directory``; return the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for language in LANGUAGES:
        stems = (language, f"{language}-digest")
        for stem, msg in zip(stems, sample_messages(language), strict=True):
            files = {
                "html": body_text(msg, "html").encode("utf-8"),
                "txt": body_text(msg, "plain").encode("utf-8"),
                "eml": serialise(msg),
            }
            for suffix, data in files.items():
                path = out / f"{stem}.{suffix}"
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "/tmp/notifier-preview"  # noqa: S108
    for path in write_previews(target):
        print(path)
