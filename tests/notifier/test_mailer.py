"""The SMTP connection a sender reuses: never one whose session state is unknown.

Found by the chaos run: a sender task restarted by its supervisor had been
cancelled between MAIL and DATA; the next email on that connection got
"503 nested MAIL command" and was failed for good."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.sender import Mailer, on_the_wire
from shared.settings import Settings

SETTINGS = Settings.from_env(
    {
        "PASSAPAROLA_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
        "PASSAPAROLA_AMQP_URL": "amqp://u:p@127.0.0.1:1/",
        "PASSAPAROLA_SECRET_KEY": "k" * 40,
    }
)


class Connection:
    """Stands in for ``aiosmtplib.SMTP``: the transaction stops at RCPT with
    ``outcome``, or goes through (354, then 250)."""

    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome
        self.is_connected = True
        self.closed = False
        self.reset = False
        self.protocol = self  # write() and read_response() for the message itself
        self.written = b""

    async def mail(self, *_args: Any) -> None:
        pass

    async def rcpt(self, *_args: Any) -> None:
        if self.outcome is not None:
            raise self.outcome

    async def execute_command(self, *_args: Any) -> aiosmtplib.SMTPResponse:
        return aiosmtplib.SMTPResponse(354, "go ahead")

    def write(self, data: bytes) -> None:
        self.written += data

    async def read_response(self, timeout: float | None = None) -> aiosmtplib.SMTPResponse:
        return aiosmtplib.SMTPResponse(250, "2.0.0 queued")

    async def rset(self) -> None:
        self.reset = True

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
    # The envelope is reset (RSET) after a refusal: the session is sound.
    connection = Connection(outcome)
    mailer = mailer_on(connection)
    if outcome is None:
        assert await mailer.send("from@example.org", "to@example.org", b"x\r\n") == "2.0.0 queued"
        assert connection.written == b"x\r\n.\r\n"
    else:
        with pytest.raises(type(outcome)):
            await mailer.send("from@example.org", "to@example.org", b"x\r\n")
        assert connection.reset  # the envelope is reset, as aiosmtplib's sendmail did
    assert not connection.closed
    assert id(mailer._smtp) == id(connection)


# What goes on the wire is what aiosmtplib's own data() would send, for any
# bytes: CR, LF and dots where they trip a line-ending or stuffing rule.
@given(data=st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b".."])).map(b"".join))
def test_on_the_wire_is_what_aiosmtplib_sends(data: bytes):
    assert on_the_wire(data) == PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + (
        b".\r\n"
    )
