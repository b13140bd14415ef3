"""Notifier speed: emails/s to the local SMTP sink against a bare sender, and a daily digest run.

    source <(STACK=dev1 deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.notifier_bench [--emails 3000] [--members 100000]

1. Bare: ``aiosmtplib`` alone sends pre-built messages over ``SMTP_CONNECTIONS``
   connections to the sink: what the sink and the client cost, the ceiling.
2. Notifier: the same number of instant emails, each composed with the real
   templates (three languages, one of a handful of openings, the member's own
   name and signed links), checked and sent as the sender sends them
   (``Mailer`` over ``SMTP_CONNECTIONS`` connections).
3. Digest run: compose one daily digest of 3 to 5 jobs for each of N members
   (compose only, no SMTP, no database), after a same-run baseline of N/50
   composed the old way (EmailMessage and ``serialise``). Wall and CPU time
   both: on a shared machine the CPU time says more.

Each send rate has the benchmark process's CPU time per email beside it
(the sink's is not counted): what one free core would allow.

The last line is ``ratio notifier/bare: X``: the two send rates of the same
run, so a busy machine slows both and the ratio still means something.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiosmtplib

from services.notifier import tokens
from services.notifier.compose import (
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    compose_digest,
    digest_bytes,
    instant_bytes,
    serialise,
)
from services.notifier.preview import sample_jobs
from services.notifier.sender import SMTP_CONNECTIONS, Mailer
from services.notifier.wording import LANGUAGES
from shared.settings import Settings

SENDER = Sender(address="noreply@passaparola.local", mail_domain="passaparola.local")
NOW = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
KEY = b"k" * 32
BASE = "https://links.passaparola.example"
NAMES = ("Giulia", "Karin", "Anna-Lena", "Åsa", None)


def _link(path: str, action: tokens.Action, subject: uuid.UUID) -> str:
    # Signed as the sender signs them: issuing tokens is part of each email's cost.
    return (
        f"{BASE}/{path}/{tokens.issue(KEY, action, subject, tokens.DEFAULT_TTL[action], now=NOW)}"
    )


def member_links() -> MemberLinks:
    link_id = uuid.uuid4()
    return MemberLinks(
        pause=_link("pause", tokens.Action.PAUSE, link_id),
        preferences=_link("p", tokens.Action.PREFERENCES, link_id),
        unsubscribe=_link("u", tokens.Action.UNSUBSCRIBE, link_id),
    )


def personal(job: Job) -> Job:
    """The job card with this member's own signed links (one notification each)."""
    n = uuid.uuid4()
    links = JobLinks(
        interested=_link("i", tokens.Action.INTERESTED, n),
        not_for_me=_link("n", tokens.Action.NOT_FOR_ME, n),
        forward=_link("f", tokens.Action.FORWARD, n),
    )
    return Job(job.title, job.company, job.city, job.explanation, links, job.posted_on)


CATALOGUE = {language: sample_jobs(language) for language in LANGUAGES}


def instant(i: int) -> bytes:
    language = LANGUAGES[i % 3]
    jobs = CATALOGUE[language]
    return instant_bytes(
        notification_id=uuid.uuid4(),
        sender=SENDER,
        recipient=Recipient(f"bench{i}@bench.example", language, "Europe/Rome", NAMES[i % 5]),
        job=personal(jobs[i % len(jobs)]),
        links=member_links(),
        now=NOW,
    )


async def _spread(
    count: int, workers: int, one: Callable[[int, int], Awaitable[None]]
) -> tuple[float, float]:
    """``count`` calls of ``one(worker, i)`` over ``workers`` tasks; the rate
    per second and this process's CPU time per call in microseconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(w: int) -> None:
        while not queue.empty():
            await one(w, queue.get_nowait())

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    cpu_us = (time.process_time() - cpu) / count * 1e6
    return count / (time.perf_counter() - started), cpu_us


async def bare(settings: Settings, count: int) -> tuple[float, float]:
    """aiosmtplib alone, over SMTP_CONNECTIONS connections, messages built beforehand."""
    messages = [instant(i) for i in range(min(count, 200))]
    clients = [
        aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port)
        for _ in range(SMTP_CONNECTIONS)
    ]
    for client in clients:
        await client.connect()

    async def one(w: int, i: int) -> None:
        await clients[w].sendmail(SENDER.address, [f"bench{i}@bench.example"], messages[i % 200])

    rate = await _spread(count, SMTP_CONNECTIONS, one)
    for client in clients:
        await client.quit()
    return rate


async def notifier(settings: Settings, count: int) -> tuple[float, float]:
    """Compose, check and send each email as the sender does, over its Mailers."""
    mailers = [Mailer(settings) for _ in range(SMTP_CONNECTIONS)]
    for m in mailers:  # connected before the clock starts, as the bare sender is
        await m.send(SENDER.address, "warm@bench.example", instant(0))

    async def one(w: int, i: int) -> None:
        await mailers[w].send(SENDER.address, f"bench{i}@bench.example", instant(i))

    rate = await _spread(count, SMTP_CONNECTIONS, one)
    for mailer in mailers:
        await mailer.close()
    return rate


def digest_run(members: int, fast: bool = True) -> tuple[float, float, int]:
    """(wall s, CPU s, bytes per digest). ``fast=False`` composes the way the
    sender did before the fast path: an EmailMessage, serialised and parsed
    back by ``serialise``; the same-run baseline."""
    size = 0
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(members):
        language = LANGUAGES[i % 3]
        jobs = (CATALOGUE[language] * 2)[i % 3 : i % 3 + 3 + i % 3]
        args: dict[str, Any] = {
            "notification_id": uuid.uuid4(),
            "sender": SENDER,
            "recipient": Recipient(f"m{i}@bench.example", language, "Europe/Rome", NAMES[i % 5]),
            "jobs": [personal(job) for job in jobs],
            "links": member_links(),
            "now": NOW,
            "period": "daily",
        }
        size += len(digest_bytes(**args) if fast else serialise(compose_digest(**args)))
    return time.perf_counter() - started, time.process_time() - cpu, size // members


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    env = {"PASSAPAROLA_SECRET_KEY": "x" * 32, **os.environ}
    env.setdefault("PASSAPAROLA_DATABASE_URL", "postgresql://unused@127.0.0.1/unused")
    env.setdefault("PASSAPAROLA_AMQP_URL", "amqp://unused@127.0.0.1/unused")
    settings = Settings.from_env(env)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    where = f"to {settings.smtp_host}:{settings.smtp_port} over {SMTP_CONNECTIONS} connections"
    # CPU time of this process per email beside each rate: on a loaded
    # machine the rates move with the load, the CPU cost much less.
    bare_rate, bare_cpu = asyncio.run(bare(settings, args.emails))
    print(
        f"bare: {args.emails} pre-built emails {where}: {bare_rate:.0f} emails/s "
        f"({bare_cpu:.0f} us of client CPU each)"
    )
    rate, notifier_cpu = asyncio.run(notifier(settings, args.emails))
    print(
        f"notifier: {args.emails} instant emails composed and sent {where}: {rate:.0f} emails/s "
        f"({notifier_cpu:.0f} us of client CPU each)"
    )
    slow = max(args.members // 50, 50)
    old_wall, old_cpu, _ = digest_run(slow, fast=False)
    print(
        f"digest baseline: {slow} daily digests composed as before (EmailMessage, serialise): "
        f"{slow / old_wall:.0f}/s wall, {slow / old_cpu:.0f}/s of CPU"
    )
    elapsed, cpu, size = digest_run(args.members)
    print(
        f"digest run: {args.members} daily digests (3-5 jobs) composed in {elapsed:.1f} s "
        f"({args.members / elapsed:.0f}/s wall, {cpu:.1f} s of CPU: {args.members / cpu:.0f}/s; "
        f"{size // 1024} KiB each)"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"ratio notifier/bare: {rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
