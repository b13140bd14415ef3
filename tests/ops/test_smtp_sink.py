"""The local SMTP sink (deploy/local/smtp_sink.py): every test of the
notifier reads its mail from it, so what it keeps must be exactly what the
client meant to send.

Three layers: its DATA reader fed by hand, split wherever hypothesis likes
(the one place the sink parses SMTP itself); a sink in this process on a
real socket, with a small size limit; and the sink as the stack runs it, a
process of its own, driven by ``smtplib`` and ``aiosmtplib`` and read back
from its folder and its web page, then stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.smtp_sink import (
    END_OF_DATA,
    DataLineTooLong,
    DataTooBig,
    MaildirHandler,
    SinkSMTP,
)
from tests.helpers import ROOT, free_port

SINK = ROOT / "deploy" / "local" / "smtp_sink.py"

# Lines as a client means them (no CR or LF inside): the ones that matter to
# dot-stuffing and to the end-of-data line, among ordinary text.
LINE = st.one_of(
    st.sampled_from(["", ".", "..", ". ", ".x", "x.", "\t.", "Subject: a", "From: b@c.d"]),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40),
)
LINES = st.lists(LINE, max_size=12)


def stuffed(lines: list[str]) -> bytes:
    """DATA as a client sends it (RFC 5321 4.5.2): every line starting with a
    dot gets one more, then the end-of-data line."""
    return b"".join(("." + x if x.startswith(".") else x).encode() + b"\r\n" for x in lines) + (
        b".\r\n"
    )


def meant(lines: list[str]) -> bytes:
    return b"".join(x.encode() + b"\r\n" for x in lines)


# --- the DATA reader, fed by hand ---------------------------------------------------


async def read_fed(pieces: list[bytes], size_limit: int = 10_000) -> bytes:
    """``SinkSMTP._read_data`` over a StreamReader that gets ``pieces`` one
    at a time, the reader running between them (as separate TCP reads)."""
    smtp = SinkSMTP(MaildirHandler(Path("/nonexistent")), data_size_limit=size_limit)
    # The reader aiosmtpd makes for a connection: its limit is the line limit.
    reader = asyncio.StreamReader(limit=smtp.line_length_limit)
    smtp._reader = reader
    reading = asyncio.ensure_future(smtp._read_data())
    for piece in pieces:
        reader.feed_data(piece)
        for _ in range(5):  # let the reader take what it can of this piece
            await asyncio.sleep(0)
    return await asyncio.wait_for(reading, timeout=10)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=300, deadline=None)
@given(lines=LINES, cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8))
async def test_data_read_in_any_pieces_is_unstuffed_exactly(lines: list[str], cuts: list[int]):
    data = stuffed(lines)
    assert await read_fed(split(data, cuts)) == meant(lines)


@settings(max_examples=60, deadline=None)
@given(lines=LINES, cut=st.integers(min_value=0, max_value=5))
async def test_the_end_of_data_split_anywhere_ends_the_message(lines: list[str], cut: int):
    # Split inside the five bytes "\r\n.\r\n" themselves, one byte at a time too.
    data = stuffed([*lines, "last"])
    at = len(data) - 5 + cut
    one_by_one = [data[i : i + 1] for i in range(at, len(data))]
    assert await read_fed([data[:at], *one_by_one]) == meant([*lines, "last"])


async def test_a_bare_lf_is_text_and_never_ends_the_message():
    # Lines end at CRLF only: "\n.\n" is text, and ".\n\r\n" is a line
    # that starts with a dot, which unstuffing removes.
    data = b"Subject: x\r\n\r\none\n.\ntwo\r\n.\n\r\n..\r\n.\r\n"
    assert await read_fed([data]) == b"Subject: x\r\n\r\none\n.\ntwo\r\n\n\r\n.\r\n"


async def test_a_message_over_the_limit_is_read_to_its_end_and_refused():
    big = b"x" * 900 + b"\r\n"
    with pytest.raises(DataTooBig):
        await read_fed([big * 20, END_OF_DATA[2:]], size_limit=10_000)
    # Over the limit and with a line too long: whichever comes first, as aiosmtpd.
    with pytest.raises(DataLineTooLong):
        await read_fed([b"a" * 1500 + b"\r\n" + big * 20 + b".\r\n"], size_limit=10_000)
    with pytest.raises(DataTooBig):
        await read_fed([big * 20 + b"a" * 1500 + b"\r\n.\r\n"], size_limit=10_000)
    # At the limit exactly, it is kept (aiosmtpd counts the lines' bytes).
    assert await read_fed([b"y" * 98 + b"\r\n" + b".\r\n"], size_limit=100) == b"y" * 98 + b"\r\n"


async def test_a_line_over_998_octets_is_refused():
    assert await read_fed([b"a" * 998 + b"\r\n.\r\n"]) == b"a" * 998 + b"\r\n"
    # A stuffed dot is transparent: 998 octets of text, one more on the wire.
    assert await read_fed([b".." + b"a" * 997 + b"\r\n.\r\n"]) == b"." + b"a" * 997 + b"\r\n"
    with pytest.raises(DataLineTooLong):
        await read_fed([b"a" * 1000 + b"\r\n.\r\n"])


async def test_a_message_larger_than_the_reader_limit_in_one_piece():
    lines = [f"line {i} " + "z" * 70 for i in range(500)]  # ~40 KB, one read
    assert await read_fed([stuffed(lines)], size_limit=1_000_000) == meant(lines)


# MAIL and RCPT arguments: plain paths, and what must go to aiosmtpd's parser.
PATH_PART = st.sampled_from(
    ["a", "b.c", ".", "@", "<", ">", " ", "\t", "(x)", '"q"', "\\", "[1.2.3.4]", "-", "+", "="]
)
PATH = st.one_of(
    st.lists(PATH_PART, max_size=10).map("".join),
    st.builds(
        lambda local, host, rest: f"<{local}@{host}>{rest}",
        st.sampled_from(
            ["a", "a.b", "refuse-550", "x+y", "a..b", ".a", '"a b"', "a!#$%&'*/=?^_`{|}~"]
        ),
        st.sampled_from(["example.org", "x", "a-b.c", "a..b", "[127.0.0.1]", "-x.y", "a.b."]),
        st.sampled_from(
            ["", " SIZE=100", "  body=8bitmime SIZE=5", "SIZE=1", " (c)", "\tx=1", " x\\y"]
        ),
    ),
)


@settings(max_examples=500)
@given(arg=PATH)
async def test_paths_are_read_as_aiosmtpd_reads_them(arg: str):
    smtp = SinkSMTP(MaildirHandler(Path("/nonexistent")))

    def outcome(read: Callable[[str], object]) -> object:
        try:
            return read(arg)
        except Exception as error:  # aiosmtpd's parser fails on some ("<"): so must ours
            return type(error)

    assert outcome(smtp._getaddr) == outcome(lambda a: SMTP._getaddr(smtp, a))


# --- a sink in this process, on a real socket ---------------------------------------


@dataclass
class Local:
    port: int
    maildir: Path


@pytest.fixture
async def local_sink(tmp_path: Path) -> AsyncIterator[Local]:
    """A sink with a 2,000-byte limit, so that refusals are cheap to provoke."""
    handler = MaildirHandler(tmp_path)
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SinkSMTP(handler, hostname="sink-test", data_size_limit=2000), "127.0.0.1", port
    )
    yield Local(port, tmp_path)
    server.close()
    await server.wait_closed()


class Dialogue:
    """A client that writes exactly the bytes it is given (no stuffing, no
    fixing of line ends) and reads one reply at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Dialogue:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        dialogue = cls(reader, writer)
        assert (await dialogue.reply()).startswith("220")
        assert (await dialogue.say(b"EHLO client.example\r\n")).startswith("250")
        return dialogue

    async def reply(self) -> str:
        lines = [await asyncio.wait_for(self.reader.readline(), timeout=20)]
        while lines[-1][3:4] == b"-":
            lines.append(await asyncio.wait_for(self.reader.readline(), timeout=20))
        return b"".join(lines).decode()

    async def say(self, *pieces: bytes) -> str:
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()
        return await self.reply()

    async def envelope(self, rcpt: str = "someone@example.org") -> None:
        assert (await self.say(b"MAIL FROM:<noreply@example.org>\r\n")).startswith("250")
        assert (await self.say(f"RCPT TO:<{rcpt}>\r\n".encode())).startswith("250")
        assert (await self.say(b"DATA\r\n")).startswith("354")

    async def close(self) -> None:
        assert (await self.say(b"QUIT\r\n")).startswith("221")
        self.writer.close()
        await self.writer.wait_closed()


def bodies(maildir: Path) -> list[bytes]:
    """The mails kept, oldest first, without the sink's two envelope lines."""
    return [p.read_bytes().split(b"\r\n", 2)[2] for p in sorted(maildir.glob("*.eml"))]


@pytest.fixture
async def both_sinks(tmp_path: Path) -> AsyncIterator[tuple[Local, Local]]:
    """aiosmtpd's own server and the sink's, side by side, the same limit."""
    servers, sinks = [], []
    classes: tuple[tuple[str, type[SMTP]], ...] = (("aiosmtpd", SMTP), ("sink", SinkSMTP))
    for name, server_class in classes:
        maildir = tmp_path / name
        maildir.mkdir()
        handler = MaildirHandler(maildir)
        port = free_port()

        def protocol(h: MaildirHandler = handler, c: type[SMTP] = server_class) -> SMTP:
            return c(h, hostname="t", data_size_limit=2000)

        servers.append(await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", port))
        sinks.append(Local(port, maildir))
    yield sinks[0], sinks[1]
    for server in servers:
        server.close()
        await server.wait_closed()


# Raw lines with what trips a parser: dots, bare CR and LF, long runs.
RAW_LINE = st.lists(
    st.sampled_from([b"a", b".", b"\r", b"\n", b" ", b"a" * 300, b"." * 7]), max_size=12
).map(b"".join)


# The two servers live across examples; each example compares only its own mail.
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(RAW_LINE.filter(lambda x: x != b"." and b"\r\n" not in x), max_size=8))
async def test_the_sink_answers_and_keeps_what_aiosmtpd_does(
    both_sinks: tuple[Local, Local], lines: list[bytes]
):
    # A line "\r" followed by one starting "\n" would make a CRLF across the
    # join: the data is what it is on the wire, and both get the same bytes.
    data = b"".join(line + b"\r\n" for line in lines) + b".\r\n"
    answers, kept = [], []
    for sink in both_sinks:
        before = len(bodies(sink.maildir))
        talk = await Dialogue.open(sink.port)
        await talk.envelope()
        answers.append((await talk.say(data))[:3])
        await talk.close()
        kept.append(bodies(sink.maildir)[before:])
    assert answers[0] == answers[1]
    assert kept[0] == kept[1]


async def test_refusals_keep_the_session_usable(local_sink: Local):
    talk = await Dialogue.open(local_sink.port)
    await talk.envelope()
    reply = await talk.say(b"x" * 500 + b"\r\n", (b"y" * 500 + b"\r\n") * 4, b".\r\n")
    assert reply.startswith("552 ")
    await talk.envelope()
    assert (await talk.say(b"a" * 1500 + b"\r\n.\r\n")).startswith("500 Line too long")
    # After each refusal the envelope is gone (no "503 nested MAIL") and the
    # next mail goes through, split across writes inside its end-of-data line.
    await talk.envelope()
    assert (await talk.say(b"Subject: ok\r\n\r\n..dot", b"\r", b"\n.", b"\r\n")).startswith("250")
    await talk.close()
    assert bodies(local_sink.maildir) == [b"Subject: ok\r\n\r\n.dot\r\n"]


async def test_an_empty_message_and_one_of_blank_lines(local_sink: Local):
    talk = await Dialogue.open(local_sink.port)
    await talk.envelope()
    assert (await talk.say(b".\r\n")).startswith("250")
    await talk.envelope()
    assert (await talk.say(b"\r\n\r\n.\r\n")).startswith("250")
    await talk.close()
    # The empty mail is kept as its two envelope lines alone.
    (empty, blank) = sorted(local_sink.maildir.glob("*.eml"))
    assert empty.read_bytes().count(b"\r\n") == 2
    assert empty.read_bytes().endswith(b"X-Sink-Rcpt-To: someone@example.org\r\n")
    assert blank.read_bytes().split(b"\r\n", 2)[2] == b"\r\n\r\n"


async def test_data_needs_a_recipient_and_no_argument(local_sink: Local):
    talk = await Dialogue.open(local_sink.port)
    assert (await talk.say(b"MAIL FROM:<a@example.org>\r\n")).startswith("250")
    assert (await talk.say(b"DATA\r\n")).startswith("503")
    assert (await talk.say(b"RCPT TO:<b@example.org>\r\n")).startswith("250")
    assert (await talk.say(b"DATA now\r\n")).startswith("501")
    assert (await talk.say(b"RSET\r\n")).startswith("250")
    assert (await talk.say(b"NOOP\r\n")).startswith("250")
    await talk.close()
    assert bodies(local_sink.maildir) == []


async def test_aiosmtplib_sends_many_over_one_connection_and_several_at_once(local_sink: Local):
    messages = [f"Subject: {i}\r\n\r\n.{i}\r\n..\r\n.\r\nend\r\n".encode() for i in range(40)]

    async def connection(share: list[bytes]) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=local_sink.port) as smtp:
            for message in share:
                await smtp.sendmail("noreply@example.org", ["x@example.org"], message)

    await asyncio.gather(*(connection(messages[i::4]) for i in range(4)))
    assert sorted(bodies(local_sink.maildir)) == sorted(messages)


# --- the sink as the stack runs it: a process of its own ----------------------------


@dataclass
class Process:
    port: int
    web: str
    maildir: Path
    proc: subprocess.Popen[bytes]

    def new_mail(self, before: set[str]) -> list[Path]:
        return sorted(p for p in self.maildir.glob("*.eml") if p.name not in before)

    def names(self) -> set[str]:
        return {p.name for p in self.maildir.iterdir()}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own loopback sink)
        body: bytes = response.read()
        return body


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the sink exited at start-up"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "the sink did not listen within 60 s"
        time.sleep(0.05)


@contextlib.contextmanager
def running_sink(maildir: Path) -> Iterator[Process]:
    """The sink as stack.sh starts it, on ports of its own."""
    port, web_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SINK),
            "--port",
            str(port),
            "--web-port",
            str(web_port),
            "--maildir",
            str(maildir),
        ],
        cwd=ROOT,
    )
    try:
        _wait_listening(port, proc)
        _wait_listening(web_port, proc)
        yield Process(port, f"http://127.0.0.1:{web_port}", maildir, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def sink_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    with running_sink(tmp_path_factory.mktemp("mail")) as sink:
        yield sink


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=LINES)
def test_smtplib_mail_is_kept_as_meant(sink_process: Process, lines: list[str]):
    message = b"Subject: generated\r\n\r\n" + meant(lines)
    before = sink_process.names()
    with smtplib.SMTP("127.0.0.1", sink_process.port, timeout=20) as smtp:
        smtp.sendmail("noreply@example.org", ["someone@example.org"], message)
    # The 250 comes after the rename: the mail is there, whole, and alone.
    (path,) = sink_process.new_mail(before)
    assert sink_process.names() - before == {path.name}  # no temporary file left
    assert path.read_bytes() == (
        b"X-Sink-Mail-From: noreply@example.org\r\n"
        b"X-Sink-Rcpt-To: someone@example.org\r\n" + message
    )


async def test_aiosmtplib_envelope_refusals_and_web_page(sink_process: Process):
    before = sink_process.names()
    message = b"Subject: Hello\r\nTo: visible@example.org\r\n\r\nbody\r\n"
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink_process.port) as smtp:
        # The envelope is what the server was asked, whatever the headers say
        # (a Bcc injection shows up here).
        errors, _ = await smtp.sendmail(
            "noreply@example.org",
            ["visible@example.org", "hidden@example.org", "refuse-550-x@example.org"],
            message,
        )
        assert errors["refuse-550-x@example.org"].code == 550
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await smtp.sendmail("noreply@example.org", ["defer-451-y@example.org"], message)
        assert refused.value.recipients[0].code == 451
    (path,) = sink_process.new_mail(before)
    head = path.read_bytes().split(b"\r\n", 2)
    assert head[1] == b"X-Sink-Rcpt-To: visible@example.org, hidden@example.org"
    assert head[2] == message

    listed = json.loads(await asyncio.to_thread(_get, f"{sink_process.web}/api/mails"))
    (entry,) = [m for m in listed if m["id"] == path.stem]
    assert entry["subject"] == "Hello"
    assert entry["to"] == "visible@example.org"
    raw = await asyncio.to_thread(_get, f"{sink_process.web}/mail/{path.stem}.eml")
    assert raw == path.read_bytes()
    page = await asyncio.to_thread(_get, f"{sink_process.web}/mail/{path.stem}")
    assert b"visible@example.org" in page
    assert b"Hello" in await asyncio.to_thread(_get, f"{sink_process.web}/")


def test_sigterm_stops_it_cleanly(tmp_path: Path):
    # As stack.sh stops it: SIGTERM, then a clean exit, nothing half written.
    with running_sink(tmp_path) as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=20) as smtp:
            smtp.sendmail("noreply@example.org", ["a@example.org"], b"Subject: x\r\n\r\nx\r\n")
        sink.proc.send_signal(signal.SIGTERM)
        assert sink.proc.wait(timeout=30) == 0
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", sink.port)) != 0
        assert [p.suffix for p in tmp_path.iterdir()] == [".eml"]
