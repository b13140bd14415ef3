"""The forwarded opening as it goes on the wire: only our headers, one recipient,
whatever the forwarder, the note or the company wrote."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from services.notifier.compose import UnsafeMessage, serialise
from services.notifier.consent import FORWARD_HEADERS, forward_message
from shared.settings import Settings
from tests.notifier.test_compose import EVIL

SETTINGS = Settings.from_env(
    {
        "PASSAPAROLA_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
        "PASSAPAROLA_AMQP_URL": "amqp://u:p@127.0.0.1:1/",
        "PASSAPAROLA_SECRET_KEY": "k" * 40,
    }
)
COLLEAGUE = "anna.berg@example.se"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def forwarded(hostile: str) -> bytes:
    send = {
        "address": COLLEAGUE,
        "language": "sv",
        "from_name": hostile,
        "note": hostile,
        "job": {"title": hostile, "company": hostile, "city": hostile, "apply_url": hostile},
    }
    return serialise(forward_message(SETTINGS, uuid.uuid4(), send, NOW), FORWARD_HEADERS)


@pytest.mark.parametrize("hostile", EVIL)
def test_hostile_text_stays_in_the_body(hostile):
    parsed = email.message_from_bytes(forwarded(hostile), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert sorted(parsed.keys()) == sorted(FORWARD_HEADERS)
    assert [a.addr_spec for a in parsed["To"].addresses] == [COLLEAGUE]
    assert parsed.get_all("Cc") is None
    assert parsed.get_all("Bcc") is None


def test_a_header_beyond_the_forwards_own_is_refused():
    msg = forward_message(SETTINGS, uuid.uuid4(), {"address": COLLEAGUE, "job": {}}, NOW)
    msg["Reply-To"] = "someone@example.com"
    with pytest.raises(UnsafeMessage, match="unexpected header block"):
        serialise(msg, FORWARD_HEADERS)


@pytest.mark.parametrize(
    ("language", "subject", "someone"),
    [
        ("it", "Una persona che conosci ti segnala un'opportunità", "Una persona che conosci"),
        ("sv", "En kollega tipsar dig om en tjänst", "En kollega"),
    ],
)
def test_a_forward_without_the_forwarders_name_reads_in_the_colleagues_language(
    language, subject, someone
):
    send = {"address": COLLEAGUE, "language": language, "from_name": "", "job": {"title": "EA"}}
    parsed = email.message_from_bytes(
        serialise(forward_message(SETTINGS, uuid.uuid4(), send, NOW), FORWARD_HEADERS),
        policy=email.policy.default,
    )
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == subject
    text = parsed.get_content()
    assert text.startswith(someone + " ")
    for english in ("A colleague", "colleague", "Someone", "How to apply", "opening"):
        assert english not in text
