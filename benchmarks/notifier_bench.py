"""Notifier speed: emails/s to the local SMTP sink, and a 10k-member daily digest run.

    source <(STACK=dev2 deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.notifier_bench [--emails 1000] [--members 10000]

1. Send: compose an instant email with the real templates (three languages),
   serialise it (the header check included) and ``sendmail`` it over the
   sender's reused connections (``SENDERS`` in parallel), to the sink.
2. Digest run: compose and serialise one daily digest of 3 to 5 jobs for each
   of N members (compose only, no SMTP, no database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

from services.notifier.compose import (
    Recipient,
    Sender,
    compose_digest,
    compose_instant,
    serialise,
)
from services.notifier.preview import sample_jobs, sample_links
from services.notifier.sender import SENDERS, Mailer
from services.notifier.wording import LANGUAGES
from shared.settings import Settings

SENDER = Sender(address="noreply@passaparola.local", mail_domain="passaparola.local")
NOW = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)


def instant(i: int) -> bytes:
    language = LANGUAGES[i % 3]
    jobs = sample_jobs(language)
    msg = compose_instant(
        notification_id=uuid.uuid4(),
        sender=SENDER,
        recipient=Recipient(f"bench{i}@bench.example", language, "Europe/Rome", "Giulia"),
        job=jobs[i % len(jobs)],
        links=sample_links(uuid.uuid4()),
        now=NOW,
    )
    return serialise(msg)


async def send(settings: Settings, count: int) -> float:
    mailers = [Mailer(settings) for _ in range(SENDERS)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(mailer: Mailer) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await mailer.send(SENDER.address, f"bench{i}@bench.example", instant(i))

    await asyncio.gather(*(worker(m) for m in mailers[:1]))  # warm up one connection
    started = time.perf_counter()
    for i in range(count):
        queue.put_nowait(i)
    await asyncio.gather(*(worker(m) for m in mailers))
    elapsed = time.perf_counter() - started
    for mailer in mailers:
        await mailer.close()
    return count / elapsed


def digest_run(members: int) -> tuple[float, int]:
    catalogue = {language: sample_jobs(language) for language in LANGUAGES}
    links = sample_links(uuid.uuid4())
    size = 0
    started = time.perf_counter()
    for i in range(members):
        language = LANGUAGES[i % 3]
        jobs = catalogue[language]
        jobs = (jobs * 2)[: 3 + i % 3]
        msg = compose_digest(
            notification_id=uuid.uuid4(),
            sender=SENDER,
            recipient=Recipient(f"m{i}@bench.example", language, "Europe/Rome", "Karin"),
            jobs=jobs,
            links=links,
            now=NOW,
            period="daily",
        )
        size += len(serialise(msg))
    return time.perf_counter() - started, size // members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    env = {"PASSAPAROLA_SECRET_KEY": "x" * 32, **os.environ}
    env.setdefault("PASSAPAROLA_DATABASE_URL", "postgresql://unused@127.0.0.1/unused")
    env.setdefault("PASSAPAROLA_AMQP_URL", "amqp://unused@127.0.0.1/unused")
    settings = Settings.from_env(env)
    rate = asyncio.run(send(settings, args.emails))
    print(
        f"send: {args.emails} instant emails to {settings.smtp_host}:{settings.smtp_port} "
        f"over {SENDERS} connections: {rate:.0f} emails/s"
    )
    elapsed, size = digest_run(args.members)
    print(
        f"digest run: {args.members} daily digests (3-5 jobs) composed in {elapsed:.1f} s "
        f"({args.members / elapsed:.0f}/s, {size // 1024} KiB each)"
    )


if __name__ == "__main__":
    main()
