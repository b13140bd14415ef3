"""The Mailer against the stack's SMTP sink: what it sends is kept exactly as
composed, and a refusal leaves the connection usable for the next email."""

from __future__ import annotations

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier.sender import Mailer
from shared.settings import Settings
from tests.notifier.real import Mailbox, domain

pytestmark = pytest.mark.real

SENDER = "noreply@passaparola.local"
# Lines as composed text can have them: dots first, blank lines, a lone dot.
LINE = st.sampled_from([".", "..", ".x", "", "text", "a.b", " .", "=2E", "x" * 76])


@pytest.fixture
def smtp_settings(stack_env: dict[str, str]) -> Settings:
    return Settings.from_env(stack_env)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(LINE, max_size=10))
async def test_a_message_is_kept_as_composed(smtp_settings: Settings, lines: list[str]):
    box = Mailbox(domain())
    message = ("Subject: kept\r\n\r\n" + "".join(line + "\r\n" for line in lines)).encode()
    mailer = Mailer(smtp_settings)
    try:
        assert await mailer.send(SENDER, f"member@{box.domain}", message)
    finally:
        await mailer.close()
    # The sink's 250 comes after its file is in place.
    (mail,) = box.mails()
    assert mail.rcpt_to == (f"member@{box.domain}",)
    assert mail.raw == message


async def test_refusals_raise_and_the_connection_goes_on(smtp_settings: Settings):
    box = Mailbox(domain())
    mailer = Mailer(smtp_settings)
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await mailer.send(SENDER, f"refuse-550@{box.domain}", b"Subject: a\r\n\r\na\r\n")
        assert refused.value.recipients[0].code == 550
        connection = mailer._smtp
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as deferred:
            await mailer.send(SENDER, f"defer-451@{box.domain}", b"Subject: b\r\n\r\nb\r\n")
        assert deferred.value.recipients[0].code == 451
        # Same connection, envelope reset: no "503 nested MAIL" for the next one.
        await mailer.send(SENDER, f"member@{box.domain}", b"Subject: c\r\n\r\n.c\r\n")
        assert mailer._smtp is connection
    finally:
        await mailer.close()
    (mail,) = box.mails()
    assert mail.raw == b"Subject: c\r\n\r\n.c\r\n"
