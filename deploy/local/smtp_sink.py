"""A local SMTP sink: accepts every mail, keeps each as an .eml file, and shows
them on a small read-only web page.

    python deploy/local/smtp_sink.py --port 2525 --web-port 8025 --maildir var/demo/mail

Nothing is ever relayed. File names sort by arrival; a mail is written to a
temporary name first and renamed, so a reader never sees half a mail. Each
file starts with two lines the sink adds, ``X-Sink-Mail-From`` and
``X-Sink-Rcpt-To``: the envelope, what the server was really asked to do.

Tests choose the answer for a recipient by its local part: ``refuse-550...@``
is refused for good (550 5.1.1), ``defer-451...@`` is refused for now (451
4.2.0), every time; anything else is accepted.

The SMTP is ``aiosmtpd``'s, with one override: DATA is read in a few large
reads rather than one event-loop round per line (``SinkSMTP.smtp_DATA``),
which was most of the sink's cost, and the sink was the ceiling of the
notifier's benchmark (docs/performance.md, "Notifier").
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import html
import json
import os
import re
import signal
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

REFUSALS = {
    "refuse-550": "550 5.1.1 mailbox unavailable",
    "defer-451": "451 4.2.0 mailbox busy, try again later",
}
DATA_SIZE_LIMIT = 10 * 1024 * 1024

# The end of DATA: a line holding a single dot. Its first CRLF ends the
# message's last line and belongs to the message.
END_OF_DATA = b"\r\n.\r\n"
# What the bytes read so far may end with while END_OF_DATA could still be
# under way across them (see SinkSMTP._read_data).
_END_PREFIXES = (b"\r", b"\r\n", b"\r\n.", b"\r\n.\r")
# A MAIL or RCPT path the way our senders write it: <dot-atom@host> and
# perhaps parameters, no comments, quotes or escapes (see SinkSMTP._getaddr).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"<((?:{_ATEXT}\.)*{_ATEXT}@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>[ \t]*([^()\\\"\t]*)"
)


class DataTooBig(Exception):
    """More mail data than the limit: answered 552 once all of it is read."""


class DataLineTooLong(Exception):
    """A line longer than SMTP allows: answered 500 once all of it is read."""


class SinkSMTP(SMTP):
    """``aiosmtpd``'s server, DATA read in large pieces.

    ``aiosmtpd`` reads DATA one line per ``readuntil(b"\\r\\n")``, an
    event-loop round and a few Python objects per line: most of the sink's
    time. Here the whole message comes from one ``readuntil`` on the
    end-of-data line (more only for a message larger than the reader's
    buffer limit), then is checked and dot-unstuffed in a few C-speed bytes
    operations. Every answer is ``aiosmtpd``'s own: 503 before RCPT, 501 on
    an argument, 354, 552 over ``data_size_limit``, 500 for a line over
    ``line_length_limit`` (998 octets, its CRLF and a transparent dot), then
    the handler's ``handle_DATA`` and its answer. Bytes only (``decode_data``
    stays off): the sink keeps mail as it came.
    """

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The address of a MAIL or RCPT command and the rest of it.

        ``aiosmtpd`` parses it with the email package's RFC 5322 header
        parser and defines a class on every call: a fifth of the sink's time
        per mail, on paths that are nearly always ``<dot-atom@host>``. Those
        are read with one regular expression, to the same result (a test
        compares the two on generated paths); anything else still goes to
        ``aiosmtpd``'s parser.
        """
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is None or self.local_part_limit:
            result: tuple[str | None, str | None] = super()._getaddr(arg)
            return result
        return plain.group(1), plain.group(2)

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data = await self._read_data()
        except asyncio.IncompleteReadError:
            # The client closed mid-DATA (aiosmtpd cancels this coroutine on
            # EOF first, so this is a fallback): as a reset connection.
            self._writer.close()
            raise ConnectionResetError("connection closed during DATA") from None
        except DataTooBig:
            await self.push("552 Error: Too much mail data")
            self.envelope = self._create_envelope()  # as after any DATA
            return
        except DataLineTooLong:
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            self.envelope = self._create_envelope()  # as after any DATA
            return
        self.envelope.content = self.envelope.original_content = data
        status = await self.event_handler.handle_DATA(self, self.session, self.envelope)
        self.envelope = self._create_envelope()  # as after any DATA
        await self.push(status)

    async def _read_data(self) -> bytes:
        """The message as the client meant it: read to the end-of-data line,
        checked against the limits, dot-unstuffed (RFC 5321 4.5.2)."""
        reader: asyncio.StreamReader = self._reader
        limit = self.data_size_limit or 0
        # Past the size limit, only what decides between 552 and 500 is kept.
        keep_at_most = limit + self.line_length_limit + 3 if limit else 0
        kept = bytearray()
        read = 0  # every byte so far, the end-of-data line's ".\r\n" too

        def keep(piece: bytes) -> None:
            nonlocal read
            read += len(piece)
            if keep_at_most and len(kept) + len(piece) > keep_at_most:
                piece = piece[: keep_at_most - len(kept)]
            kept.extend(piece)

        # readuntil(END_OF_DATA) finds the end only where a CRLF comes
        # before its dot; an empty message is just ".\r\n" after the DATA
        # command's CRLF, read with the command. So first, byte by byte for
        # as long as the bytes so far (after that CRLF) could be the start
        # of the end: a message starting with a dot or blank lines; usually
        # one byte, the first of a header name.
        tail = bytearray(b"\r\n")
        finished = False
        while not finished and tail.endswith(_END_PREFIXES):
            byte = await reader.readexactly(1)
            keep(byte)
            tail += byte
            del tail[:-5]
            finished = tail.endswith(END_OF_DATA)
        while not finished:
            try:
                keep(await reader.readuntil(END_OF_DATA))
                finished = True
            except asyncio.LimitOverrunError as error:
                # More than the reader's limit without the end in it: take
                # what surely holds no part of the end, and look again.
                keep(await reader.read(error.consumed))
        # aiosmtpd counts the bytes of every line before the dot line.
        if limit and read - 3 > limit:
            raise _first_refusal(bytes(kept), limit, self.line_length_limit)
        del kept[-3:]  # the dot line, after the last line's CRLF
        raw = bytes(kept)
        longest = self.line_length_limit - 2  # CRLF excluded
        if len(raw) > longest and any(len(line) > longest for line in raw.split(b"\r\n")):
            raise DataLineTooLong
        # Dot-unstuffing: the first dot of every line goes. Lines end at
        # CRLF only, as aiosmtpd splits them; a bare LF is message text.
        data = raw.replace(b"\r\n.", b"\r\n")
        return data[1:] if raw.startswith(b".") else data


def _first_refusal(start: bytes, limit: int, line_limit: int) -> Exception:
    """For a message over the size limit: the refusal aiosmtpd gives, which
    is for whichever it meets first, reading line by line, of the size
    limit and a line too long. ``start`` is the message's first bytes, past
    the limit by more than a line. (A refused message only: the pace of this
    loop does not matter.)"""
    size = 0
    for line in start.split(b"\r\n"):
        if len(line) > line_limit:
            return DataLineTooLong()  # longer than its reader's buffer: refused at once
        size += len(line) + 2
        if size > limit:
            return DataTooBig()
        if len(line) + 2 > line_limit:
            return DataLineTooLong()
    return DataTooBig()


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.count = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        for prefix, reply in REFUSALS.items():
            if address.lower().startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self.count:06d}"
        tmp = os.path.join(self.maildir, f".{name}.tmp")
        # The envelope's recipients are what the server was really asked to
        # deliver to: keep them beside the mail, so tests can compare them
        # with the headers (a Bcc injection shows up here).
        data = envelope.original_content or envelope.content
        body = data if isinstance(data, bytes) else str(data).encode()
        prefix = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        # Plain os calls: pathlib's were a tenth of the sink's time per mail.
        # Written in the event loop: on two cores a thread pool costs more
        # than the write, which goes to the page cache (no fsync: a sink).
        whole = memoryview(prefix + body)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            while whole:
                whole = whole[os.write(fd, whole) :]
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.maildir, f"{name}.eml"))
        return "250 Message accepted for delivery"


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _summary(path: Path) -> dict[str, Any]:
    message = _read(path)
    return {
        "id": path.stem,
        "date": str(message.get("Date", "")),
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
    }


def web_app(maildir: Path) -> web.Application:
    def mails() -> list[Path]:
        return sorted(maildir.glob("*.eml"), reverse=True)

    def find(request: web.Request) -> Path:
        wanted = request.match_info["id"]
        for path in maildir.glob("*.eml"):
            if path.stem == wanted:
                return path
        raise web.HTTPNotFound(text="no such mail")

    async def index(_: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{html.escape(m['date'])}</td><td>{html.escape(m['to'])}</td>"
            f"<td><a href='/mail/{m['id']}'>{html.escape(m['subject']) or '(no subject)'}</a>"
            "</td></tr>"
            for m in map(_summary, mails())
        )
        page = (
            "<!doctype html><meta charset=utf-8><title>passaparola · captured mail</title>"
            "<style>body{font:15px system-ui;margin:2rem}td,th{padding:.3rem .8rem;"
            "text-align:left;border-bottom:1px solid #ddd}</style>"
            f"<h1>Captured mail</h1><p>{len(mails())} message(s), newest first. "
            "Nothing here was delivered anywhere.</p>"
            f"<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>{rows}</table>"
        )
        return web.Response(text=page, content_type="text/html")

    async def show(request: web.Request) -> web.Response:
        path = find(request)
        message = _read(path)
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        headers = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in message.items()
        )
        rendered = ""
        if html_part is not None:
            # Sandboxed: the mail's HTML can neither run scripts nor navigate us.
            rendered = (
                f'<iframe sandbox srcdoc="{html.escape(html_part.get_content())}" '
                "style='width:100%;height:70vh;border:1px solid #ccc'></iframe>"
            )
        text = html.escape(text_part.get_content()) if text_part is not None else ""
        page = (
            "<!doctype html><meta charset=utf-8><title>mail</title>"
            "<style>body{font:15px system-ui;margin:2rem}th{text-align:left;padding-right:1rem}"
            "pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}</style>"
            f"<p><a href='/'>← all mail</a> · <a href='/mail/{path.stem}.eml'>raw .eml</a></p>"
            f"<table>{headers}</table><h2>HTML</h2>{rendered}<h2>Plain text</h2><pre>{text}</pre>"
        )
        return web.Response(text=page, content_type="text/html")

    async def raw(request: web.Request) -> web.Response:
        return web.Response(body=find(request).read_bytes(), content_type="message/rfc822")

    async def api(_: web.Request) -> web.Response:
        return web.json_response([_summary(p) for p in mails()], dumps=json.dumps)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/api/mails", api)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/mail/{id}.eml", raw)
    app.router.add_get("/mail/{id}", show)
    return app


async def serve(host: str, port: int, web_port: int, maildir: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(maildir)
    smtp = await loop.create_server(
        lambda: SinkSMTP(handler, hostname="passaparola-sink", data_size_limit=DATA_SIZE_LIMIT),
        host,
        port,
    )
    runner = web.AppRunner(web_app(maildir), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, web_port).start()
    print(
        f"smtp sink: smtp://{host}:{port}, mail at http://{host}:{web_port}/, files in {maildir}",
        flush=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    smtp.close()
    await smtp.wait_closed()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--web-port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    args.maildir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.web_port, args.maildir))


if __name__ == "__main__":
    main()
