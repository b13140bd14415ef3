"""The member's language throughout a real email: RabbitMQ, the notifier
process, the SMTP sink, and the message parsed back with the ``email`` package.

An Italian and a Swedish member each get one instant email whose explanation
names roles that read in English in the taxonomy; nothing in either email may
be an English role name or an English sentence of ours.
"""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.pofile import read_po

from services.notifier.catalogs import catalog_path, translations
from services.notifier.wording import ROLE_NAMES
from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import (
    Mail,
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
)
from tests.notifier.test_catalogs import LOANWORDS, forms

pytestmark = pytest.mark.real

# What the matcher sends: the posting and the member name different roles, a
# language that is a plus, a hybrid place, skills and a seniority verdict.
EXPLANATION = {
    "title": {"posting_role": "laboratory-assistant", "member_role": "secretary", "score": 71},
    "languages": {"required": ["en"], "nice_matched": ["fr"]},
    "place": {"kind": "hybrid", "city": "Bergamo"},
    "skills": ["SAP"],
    "seniority": {"posting": "senior", "member": "senior"},
}


def _english_sentences() -> list[str]:
    """Our English copy that must not appear in an Italian or Swedish email: each
    sentence with its placeholders cut out (the fixed text around them)."""
    with catalog_path("en").open("rb") as po:
        catalog = read_po(po)
    pieces: list[str] = []
    for message in catalog:
        if not message.id or message.context == "role":
            continue
        texts = forms(message.string)
        for literal, *_ in (part for text in texts for part in string.Formatter().parse(text)):
            literal = literal.strip(" .,:;·()")
            # Short fragments ("Hello", "Pause") could be a word of the
            # company's own text; sentences cannot.
            if len(literal.split()) >= 3:
                pieces.append(literal)
    return pieces


def _english_role_names(language: str) -> list[str]:
    loanwords = {word.lower() for lang, word in LOANWORDS if lang == language}
    return [name for name in ROLE_NAMES["en"].values() if name.lower() not in loanwords]


@pytest.fixture
async def notifier(service_env, tmp_path):
    port = free_port()
    process = NotifierProcess(base_env(service_env, port), tmp_path / "notifier.log")
    await process.start()
    yield process
    process.stop()


async def _known(pool, member_id: str) -> None:
    async def known() -> bool:
        found = await pool.fetchval(
            "SELECT true FROM notifier.members WHERE member_id = $1", member_id
        )
        return bool(found)

    await eventually(known, what="the member's preferences")


def _everything_read(mail: Mail) -> str:
    return "\n".join((str(mail.message["Subject"]), mail.text("plain"), mail.text("html")))


@pytest.mark.parametrize(
    ("language", "timezone", "expected"),
    [
        (
            "it",
            "Europe/Rome",
            [
                "Il ruolo, Assistente di laboratorio, è vicino a quello che cerchi (Segreteria).",
                "Puoi lavorare in parte da casa; la sede è a Bergamo.",
                "Titolo preferenziale: francese.",
                "Ti scriviamo perché hai chiesto di ricevere aggiornamenti",
            ],
        ),
        (
            "sv",
            "Europe/Stockholm",
            [
                "Rollen, Laboratorieassistent, ligger nära det du söker (Sekreterare).",
                "Du kan delvis arbeta hemifrån, med kontor i Bergamo.",
                "Meriterande: franska.",
                "Du talar språken som krävs: engelska.",
            ],
        ),
    ],
)
async def test_an_email_reads_in_the_members_language_throughout(
    notifier: NotifierProcess,
    amqp,
    topology,
    settings,
    pool,
    language: str,
    timezone: str,
    expected: list[str],
):
    publisher = await Publisher.create(await amqp.channel(), topology)
    box = Mailbox(domain())
    member_id = f"m-{language}"
    await publisher.publish(
        member_event(
            settings.secret_key,
            member_id,
            f"socia@{box.domain}",
            language=language,
            timezone=timezone,
        )
    )
    await _known(pool, member_id)
    await publisher.publish(
        match_event(member_id, explanation=EXPLANATION, title="Assistente", city="Bergamo")
    )
    (mail,) = await box.wait_for(1)

    assert mail.message["Content-Language"] == language
    html = mail.text("html")
    assert f'<html lang="{language}"' in html
    # The subject is the catalog's neutral one: no company, title or role.
    subject_start = translations(language).gettext("Your passaparola update · {date}")
    assert str(mail.message["Subject"]).startswith(subject_start.split("{date}")[0])
    for secret in ("Ferretti", "Assistente", "Laboratori", "Sekreterare", "Segreteria"):
        assert secret not in str(mail.message["Subject"])

    text = mail.text("plain")
    for sentence in expected:
        assert sentence in text, sentence
        assert sentence in html.replace("&#39;", "'"), sentence

    read = _everything_read(mail)
    for name in _english_role_names(language):
        assert not re.search(rf"\b{re.escape(name)}\b", read, re.IGNORECASE), name
    for sentence in _english_sentences():
        assert sentence.lower() not in read.lower(), sentence
