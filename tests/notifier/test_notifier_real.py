"""The notifier process end to end: real CloudEvents through RabbitMQ and the
real consumer, mail to the real SMTP sink (or a refusing test server), parsed
back with the ``email`` package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier.compose import EXPECTED_HEADERS
from services.notifier.sender import address_hash
from shared.events import JobClosed, MatchFound, MatchWithdrawn
from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import (
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
    settle,
    wrap,
)

pytestmark = pytest.mark.real

EVIL = [
    "=?UTF-8?Q?=0A?=Bcc: x@y",
    "Evil\r\nBcc: attacker@evil.example",
    "Nul\x00Bcc: nul@evil.example",
    "=?utf-8?b?DQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ==?=",
    "Line\nTo: victim@evil.example\n\nbody",
]


@pytest.fixture
async def publisher(amqp, topology):
    return await Publisher.create(await amqp.channel(), topology)


@pytest.fixture
def notifier_factory(service_env, tmp_path):
    started: list[NotifierProcess] = []

    async def start(**extra: str) -> NotifierProcess:
        port = free_port()
        env = base_env(service_env, port, **extra)
        process = NotifierProcess(env, tmp_path / f"notifier-{len(started)}.log")
        started.append(process)
        await process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def notifier(notifier_factory) -> NotifierProcess:
    return await notifier_factory()


async def publish(publisher: Publisher, *envelopes) -> None:
    for envelope in envelopes:
        await publisher.publish(envelope)


async def states(pool, member_id: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT posting_id, state, reason FROM notifier.notifications WHERE member_id = $1",
        member_id,
    )
    return {r["posting_id"]: f"{r['state']}:{r['reason'] or ''}".rstrip(":") for r in rows}


async def member_known(pool, member_id: str) -> None:
    async def known() -> bool:
        return bool(
            await pool.fetchval("SELECT true FROM notifier.members WHERE member_id = $1", member_id)
        )

    await eventually(known, what="the member's preferences")


async def pending_count(pool, member_id: str, n: int) -> None:
    async def there() -> bool:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM notifier.notifications WHERE member_id = $1", member_id
            )
            >= n
        )

    await eventually(there, what=f"{n} notification(s)")


async def make_due(pool, member_id: str) -> None:
    """The clock reaches the digest slot (tests cannot wait until 08:00)."""
    await pool.execute(
        "UPDATE notifier.notifications SET due_at = now() WHERE member_id = $1"
        " AND state = 'pending'",
        member_id,
    )


async def test_an_instant_email_has_the_intended_structure_headers_and_one_recipient(
    notifier, publisher, settings, pool
):
    box = Mailbox(domain())
    address = f"giulia@{box.domain}"
    match = match_event("m-1")
    await publish(publisher, member_event(settings.secret_key, "m-1", address))
    await member_known(pool, "m-1")
    await publish(publisher, match)
    (mail,) = await box.wait_for(1)
    msg = mail.message
    assert sorted(mail.header_names) == sorted(EXPECTED_HEADERS)
    assert mail.rcpt_to == (address,)
    assert str(msg["To"]) == address
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    subject = str(msg["Subject"])
    assert subject.startswith("Il tuo aggiornamento passaparola")
    for secret_word in ("Ferretti", "Executive", "Assistant", "lavoro", "job"):
        assert secret_word not in subject
    assert "Ferretti & Bianchi S.p.A." in mail.text("plain")
    assert "Ciao Giulia," in mail.text("plain")
    # Why it fits, from the matcher's structured explanation, in Italian.
    assert "Assistente di direzione" in mail.text("plain")
    assert "Milano" in mail.text("html")
    assert "PERCH" in mail.text("html").upper()
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(msg["List-Unsubscribe"]).startswith(f"<{notifier.url}/u/")

    async def recorded() -> bool:
        # The sink has the mail a moment before the sender's group commit
        # records the 250.
        row = await pool.fetchrow(
            "SELECT n.state, e.id, e.smtp_code FROM notifier.notifications n"
            " JOIN notifier.emails e ON e.id = n.email_id WHERE n.match_id = $1",
            match.payload(MatchFound).match_id,
        )
        return row is not None and row["state"] != "sending"

    await eventually(recorded, what="the 250 recorded")
    row = await pool.fetchrow(
        "SELECT n.state, e.id, e.smtp_code FROM notifier.notifications n"
        " JOIN notifier.emails e ON e.id = n.email_id WHERE n.match_id = $1",
        match.payload(MatchFound).match_id,
    )
    assert row["state"] == "sent" and row["smtp_code"] == 250
    assert msg["Message-ID"] == f"<{row['id']}@passaparola.local>"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{notifier.operator_url}/metrics") as response,
    ):
        exported = await response.text()
    assert 'passaparola_emails_total{kind="instant",outcome="sent"} 1.0' in exported
    # Nothing personal in the notifier's tables in clear.
    dump = str(await pool.fetch("SELECT * FROM notifier.members"))
    assert address not in dump and "Giulia" not in dump


async def test_hostile_titles_give_exactly_the_intended_headers_and_one_envelope_recipient(
    notifier, publisher, settings, pool
):
    box = Mailbox(domain())
    address = f"assistente@{box.domain}"
    await publish(publisher, member_event(settings.secret_key, "m-evil", address))
    await member_known(pool, "m-evil")
    await publish(
        publisher,
        *(match_event("m-evil", title=t, company_name=t, city=t) for t in EVIL),
    )
    mails = await box.wait_for(len(EVIL))
    await settle(1)
    assert len(box.mails()) == len(EVIL)
    for mail in mails:
        assert sorted(mail.header_names) == sorted(EXPECTED_HEADERS)
        assert mail.rcpt_to == (address,)
        assert mail.message.get_all("Bcc") is None
        assert mail.message.get_all("Cc") is None
        assert [str(v) for v in mail.message.get_all("To") or []] == [address]
        assert "\x00" not in mail.text("plain")


async def test_quiet_hours_defer_the_email_to_their_end(notifier, publisher, settings, pool):
    box = Mailbox(domain())
    rome = ZoneInfo("Europe/Rome")
    local = datetime.now(UTC).astimezone(rome)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    await publish(
        publisher,
        member_event(
            settings.secret_key,
            "m-quiet",
            f"q@{box.domain}",
            quiet_hours=[start, end.strftime("%H:%M")],
        ),
    )
    await member_known(pool, "m-quiet")
    await publish(publisher, match_event("m-quiet", posting_id="p-quiet"))
    await pending_count(pool, "m-quiet", 1)
    await settle()
    assert box.mails() == []
    due = await pool.fetchval(
        "SELECT due_at FROM notifier.notifications WHERE member_id = 'm-quiet'"
    )
    assert due.astimezone(rome).strftime("%H:%M") == end.strftime("%H:%M")
    assert await states(pool, "m-quiet") == {"p-quiet": "pending"}


async def test_a_digest_lists_the_best_first_within_the_weekly_cap(
    notifier_factory, publisher, settings, pool
):
    await notifier_factory(PASSAPAROLA_NOTIFIER_WEEKLY_CAP="3")
    box = Mailbox(domain())
    await publish(
        publisher,
        member_event(settings.secret_key, "m-digest", f"d@{box.domain}", frequency="daily"),
    )
    await member_known(pool, "m-digest")
    scores = {"Office Manager": 0.61, "Chief of Staff": 0.93, "Team Assistant": 0.42}
    scores["Executive Assistant"] = 0.77
    await publish(
        publisher,
        *(
            match_event("m-digest", posting_id=f"p-{s}", title=t, score=s)
            for t, s in scores.items()
        ),
    )
    await pending_count(pool, "m-digest", 4)
    await settle(1)
    assert box.mails() == [], "a daily member's jobs wait for the digest slot"
    await make_due(pool, "m-digest")
    (mail,) = await box.wait_for(1)
    text = mail.text("plain")
    positions = [text.find(t) for t in ("Chief of Staff", "Executive Assistant", "Office Manager")]
    assert -1 not in positions and positions == sorted(positions)
    assert "Team Assistant" not in text
    assert "settimanale" not in str(mail.message["Subject"])
    expected = {
        "p-0.42": "cancelled:weekly cap",
        "p-0.61": "sent",
        "p-0.77": "sent",
        "p-0.93": "sent",
    }

    async def recorded() -> bool:
        # The sink has the mail a moment before the sender records the 250.
        return await states(pool, "m-digest") == expected

    await eventually(recorded, what="the digest recorded as sent")
    await settle(1)
    assert len(box.mails()) == 1


async def test_withdrawn_or_closed_before_the_send_is_not_sent(notifier, publisher, settings, pool):
    box = Mailbox(domain())
    await publish(
        publisher,
        member_event(settings.secret_key, "m-w", f"w@{box.domain}", frequency="weekly"),
    )
    await member_known(pool, "m-w")
    keep = match_event("m-w", posting_id="p-keep", title="Still open")
    withdrawn = match_event("m-w", posting_id="p-withdrawn", title="Withdrawn one")
    closed = match_event("m-w", posting_id="p-closed", title="Closed one")
    await publish(publisher, keep, withdrawn, closed)
    await pending_count(pool, "m-w", 3)
    await publish(
        publisher,
        wrap(
            MatchWithdrawn(
                withdrawn.payload(MatchFound).match_id, "p-withdrawn", "m-w", "profile changed"
            )
        ),
        wrap(JobClosed("p-closed", "c-1", 2)),
    )

    async def cancelled() -> bool:
        return sum(v.startswith("cancelled") for v in (await states(pool, "m-w")).values()) == 2

    await eventually(cancelled, what="the withdrawal and the closure")
    await make_due(pool, "m-w")
    (mail,) = await box.wait_for(1)
    text = mail.text("plain")
    assert "Still open" in text
    assert "Withdrawn one" not in text and "Closed one" not in text
    assert "settimanale" in str(mail.message["Subject"])
    expected = {
        "p-keep": "sent",
        "p-withdrawn": "cancelled:match withdrawn",
        "p-closed": "cancelled:posting closed",
    }

    async def recorded() -> bool:
        # The sink has the mail a moment before the sender records the 250.
        return await states(pool, "m-w") == expected

    await eventually(recorded, what="the digest recorded as sent")


async def test_a_redelivered_match_found_sends_one_email(notifier, publisher, settings, pool):
    box = Mailbox(domain())
    await publish(publisher, member_event(settings.secret_key, "m-r", f"r@{box.domain}"))
    await member_known(pool, "m-r")
    match = match_event("m-r", posting_id="p-r")
    same_match_new_event = wrap(match.data)
    same_posting_new_match = match_event("m-r", posting_id="p-r")
    await publish(publisher, match, match, match, same_match_new_event)
    await box.wait_for(1)
    await publish(publisher, same_posting_new_match)
    await pending_count(pool, "m-r", 2)
    await settle(2)
    assert len(box.mails()) == 1
    rows = await pool.fetch(
        "SELECT state, reason FROM notifier.notifications WHERE member_id = 'm-r' ORDER BY state"
    )
    assert [(r["state"], r["reason"]) for r in rows] == [
        ("cancelled", "already sent"),
        ("sent", None),
    ]


class Refusing:
    """A tiny SMTP server: 550 for addresses starting 'gone', 451 once for 'grey'."""

    def __init__(self) -> None:
        self.rcpts: list[str] = []
        self.accepted: list[str] = []
        self.greylisted: set[str] = set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address, _):
        self.rcpts.append(address)
        if address.startswith("gone"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("grey") and address not in self.greylisted:
            self.greylisted.add(address)
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted.extend(envelope.rcpt_tos)
        return "250 accepted"


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[Refusing, int]]:
    handler = Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def test_a_permanent_refusal_is_recorded_and_stops_mail_to_that_address(
    notifier_factory, refusing, publisher, settings, pool, tmp_path
):
    handler, port = refusing
    await notifier_factory(
        PASSAPAROLA_SMTP_PORT=str(port), PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS="300,600"
    )
    gone, grey = "gone@refusing.example", "grey@refusing.example"
    await publish(
        publisher,
        member_event(settings.secret_key, "m-gone", gone),
        member_event(settings.secret_key, "m-grey", grey),
    )
    await member_known(pool, "m-gone")
    await member_known(pool, "m-grey")
    await publish(publisher, match_event("m-gone", posting_id="p-1"))
    await publish(publisher, match_event("m-grey", posting_id="p-1"))

    async def failed() -> bool:
        return (await states(pool, "m-gone")).get("p-1") == "failed:smtp refused"

    await eventually(failed, what="the refusal to be recorded")
    email_row = await pool.fetchrow(
        "SELECT state, smtp_code, smtp_reply FROM notifier.emails WHERE member_id = 'm-gone'"
    )
    assert email_row["state"] == "failed" and email_row["smtp_code"] == 550
    assert "mailbox unavailable" in email_row["smtp_reply"]
    suppressed = await pool.fetch("SELECT address_hash FROM notifier.suppressed_addresses")
    assert [r["address_hash"] for r in suppressed] == [address_hash(settings.secret_key, gone)]
    # The greylisted one is retried after the back-off and goes through.
    await eventually(lambda: _contains(handler.accepted, grey), what="the retry after a 451")
    grey_row = await pool.fetchrow(
        "SELECT attempts, state FROM notifier.emails WHERE member_id = 'm-grey'"
    )
    assert grey_row["attempts"] == 2
    # No further mail to the refused address: the next match is cancelled, never tried.
    tries = handler.rcpts.count(gone)
    await publish(publisher, match_event("m-gone", posting_id="p-2"))

    async def suppressed_cancel() -> bool:
        return (await states(pool, "m-gone")).get("p-2") == "cancelled:address suppressed"

    await eventually(suppressed_cancel, what="the next match to be cancelled")
    assert handler.rcpts.count(gone) == tries == 1
    logs = "".join(p.read_text() for p in tmp_path.glob("notifier-*.log"))
    assert '"event": "delivery settled"' in logs and '"reason": "smtp refused"' in logs
    assert '"event": "delivery retried later"' in logs
    assert "gone@" not in logs and "grey@" not in logs, "an address reached the log"


async def _contains(items: list[str], value: str) -> bool:
    return value in items
