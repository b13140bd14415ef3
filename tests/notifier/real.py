"""Helpers for the notifier's real-server tests: the notifier as a process, the
sink's captured mail, and the events that drive it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp

from shared import member_companies
from shared.events import Envelope, MatchFound, MemberChanged, Payload
from shared.sealing import Sealer
from tests.conftest import TEST_STACK
from tests.helpers import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
MAILDIR = ROOT / "var" / TEST_STACK / "mail"


class NotifierProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.port = int(env["PASSAPAROLA_NOTIFIER_PORT"])
        self.operator_port = free_port()
        self.env = {**env, "PASSAPAROLA_NOTIFIER_OPERATOR_PORT": str(self.operator_port)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def operator_url(self) -> str:
        return f"http://127.0.0.1:{self.operator_port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.notifier"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        await eventually(self._ready, timeout=60, what="the notifier to be ready")

    async def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"notifier exited: {self.log.read_text()[-3000:]}")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{self.operator_url}/readyz") as resp,
            ):
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True)
class Mail:
    path: Path
    message: EmailMessage
    rcpt_to: tuple[str, ...]
    raw: bytes

    @property
    def header_names(self) -> list[str]:
        head = self.raw.partition(b"\r\n\r\n")[0]
        return [
            line.split(b":", 1)[0].decode()
            for line in head.split(b"\r\n")
            if line[:1] not in (b" ", b"\t") and not line.startswith(b"X-Sink-")
        ]

    def text(self, subtype: str = "plain") -> str:
        part = self.message.get_body((subtype,))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content


class Mailbox:
    """The sink's .eml files that arrived after this object was made, for one domain."""

    def __init__(self, domain: str) -> None:
        MAILDIR.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.before = {p.name for p in MAILDIR.glob("*.eml")}
        self._cache: dict[str, Mail | None] = {}

    def mails(self) -> list[Mail]:
        found: list[Mail] = []
        for path in sorted(MAILDIR.glob("*.eml")):
            if path.name in self.before:
                continue
            if path.name not in self._cache:
                self._cache[path.name] = self._read(path)
            mail = self._cache[path.name]
            if mail is not None:
                found.append(mail)
        return found

    def _read(self, path: Path) -> Mail | None:
        raw = path.read_bytes()
        first, second, _ = raw.split(b"\r\n", 2)
        rcpt = first if first.startswith(b"X-Sink-Rcpt-To:") else second
        rcpt_to = tuple(a.strip() for a in rcpt.split(b":", 1)[1].decode().split(",") if a.strip())
        if not any(a.endswith("@" + self.domain) for a in rcpt_to):
            return None
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = raw.split(b"\r\n", 2)[2]
        return Mail(path, message, rcpt_to, body)

    async def wait_for(self, count: int, timeout: float = 30) -> list[Mail]:
        async def enough() -> bool:
            return len(self.mails()) >= count

        await eventually(enough, timeout=timeout, what=f"{count} mail(s) for {self.domain}")
        return self.mails()


def domain() -> str:
    return f"t{uuid.uuid4().hex[:10]}.example"


def member_event(secret: str, member_id: str, address: str, **kw: Any) -> Envelope:
    contact = Sealer([secret]).seal({"email": address, "name": "Giulia Rossi"})
    fields: dict[str, Any] = {
        "member_id": member_id,
        "revision": 1,
        "opted_in": True,
        "language": "it",
        "timezone": "Europe/Rome",
        "sealed_contact": contact,
    }
    fields.update(kw)
    # As ingest publishes it: the companies sealed (member.changed v2).
    return wrap(member_companies.sealed(MemberChanged(**fields), Sealer([secret])))


def match_event(member_id: str, posting_id: str | None = None, **kw: Any) -> Envelope:
    fields: dict[str, Any] = {
        "match_id": str(uuid.uuid4()),
        "posting_id": posting_id or f"post-{uuid.uuid4().hex[:8]}",
        "member_id": member_id,
        "score": 0.8,
        "explanation": {
            "title": {"posting_role": "executive-assistant", "member_role": "executive-assistant"},
            "place": {"kind": "same_city", "city": "Milano"},
        },
        "title": "Executive Assistant to the CEO",
        "company_name": "Ferretti & Bianchi S.p.A.",
        "city": "Milano",
    }
    fields.update(kw)
    return wrap(MatchFound(**fields))


def wrap(payload: Payload) -> Envelope:
    return Envelope.wrap(payload, source="/tests/notifier")


async def settle(seconds: float = 1.5) -> None:
    """Leave time for something that must NOT happen to show up."""
    await asyncio.sleep(seconds)


def subjects(mails: Iterable[Mail]) -> list[str]:
    return [str(m.message["Subject"]) for m in mails]


def base_env(service_env: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    env = {
        **service_env,
        "PASSAPAROLA_NOTIFIER_PORT": str(port),
        "PASSAPAROLA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **extra,
    }
    env.pop("PYTHONPATH", None)
    return {**os.environ, **env} if "PATH" not in env else env
