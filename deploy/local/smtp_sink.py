"""A local SMTP sink: accepts every mail, keeps each as an .eml file, and shows
them on a small read-only web page.

    python deploy/local/smtp_sink.py --port 2525 --web-port 8025 --maildir var/demo/mail

Nothing is ever relayed. File names sort by arrival; a mail is written to a
temporary name first and renamed, so a reader never sees half a mail.

Tests choose the answer for a recipient by its local part: ``refuse-550...@``
is refused for good (550 5.1.1), ``defer-451...@`` is refused for now (451
4.2.0), every time; anything else is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import html
import json
import os
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
        tmp = self.maildir / f".{name}.tmp"
        # The envelope's recipients are what the server was really asked to
        # deliver to: keep them beside the mail, so tests can compare them
        # with the headers (a Bcc injection shows up here).
        data = envelope.original_content or envelope.content
        body = data if isinstance(data, bytes) else str(data).encode()
        prefix = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp.write_bytes(prefix + body)
        tmp.rename(self.maildir / f"{name}.eml")
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
        lambda: SMTP(handler, hostname="passaparola-sink", data_size_limit=10 * 1024 * 1024),
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
