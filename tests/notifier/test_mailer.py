"""The SMTP connection a sender reuses: never one whose session state is unknown.

Found by the chaos run: a sender task restarted by its supervisor had been
cancelled between MAIL and DATA; the next email on that connection got
"503 nested MAIL command" and was failed for good."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest

from services.notifier.sender import Mailer
from shared.settings import Settings

SETTINGS = Settings.from_env(
    {
        "PASSAPAROLA_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
        "PASSAPAROLA_AMQP_URL": "amqp://u:p@127.0.0.1:1/",
        "PASSAPAROLA_SECRET_KEY": "k" * 40,
    }
)


class Connection:
    """Stands in for ``aiosmtplib.SMTP``: ``sendmail`` ends with ``outcome``."""

    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome
        self.is_connected = True
        self.closed = False

    async def sendmail(self, *_args: Any) -> tuple[dict[str, Any], str]:
        if self.outcome is not None:
            raise self.outcome
        return {}, "250 OK"

    def close(self) -> None:
        self.closed = True
        self.is_connected = False


def mailer_on(connection: Connection) -> Mailer:
    mailer = Mailer(SETTINGS)
    mailer._smtp = connection  # type: ignore[assignment]
    mailer._last_used = asyncio.get_running_loop().time()
    return mailer


@pytest.mark.parametrize(
    "outcome",
    [
        asyncio.CancelledError(),
        aiosmtplib.SMTPServerDisconnected("lost"),
        aiosmtplib.SMTPTimeoutError("slow"),
        ConnectionResetError(),
        RuntimeError("unexpected"),
    ],
    ids=type,
)
async def test_a_send_stopped_mid_transaction_drops_its_connection(outcome: BaseException):
    connection = Connection(outcome)
    mailer = mailer_on(connection)
    with pytest.raises(type(outcome)):
        await mailer.send("from@example.org", "to@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert connection.closed
    assert mailer._smtp is None  # the next send opens a fresh connection


@pytest.mark.parametrize(
    "outcome",
    [
        aiosmtplib.SMTPResponseException(451, "try later"),
        aiosmtplib.SMTPRecipientsRefused([]),
        None,
    ],
    ids=repr,
)
async def test_an_answer_from_the_server_keeps_the_connection(outcome: BaseException | None):
    # aiosmtplib resets the envelope (RSET) after a refusal: the session is sound.
    connection = Connection(outcome)
    mailer = mailer_on(connection)
    if outcome is None:
        assert await mailer.send("from@example.org", "to@example.org", b"x\r\n") == "250 OK"
    else:
        with pytest.raises(type(outcome)):
            await mailer.send("from@example.org", "to@example.org", b"x\r\n")
    assert not connection.closed
    assert id(mailer._smtp) == id(connection)
