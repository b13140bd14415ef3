"""Delivery runner speed: emails/s from the database to the local SMTP sink,
through the whole runner (claim and commit, compose, ``sendmail``, record),
with one sender or several side by side.

    source <(STACK=demo deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.delivery_bench [--emails 1000] [--senders 1 2]

Works in a scratch database (created from the stack's server, dropped at the
end), so the stack's own data is never touched. Each run plans N instant
emails (one per member), then times the senders until every email is
``sent``, and checks that the sink received each exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import replace
from pathlib import Path

from benchmarks import scratch_db
from services.notifier import handlers
from services.notifier.sender import SENDERS, SMTP_CONNECTIONS, Dispatcher
from shared import db, migrations, quarantine
from shared.consumer import dispatch
from shared.events import Envelope, MatchFound, MemberChanged
from shared.sealing import Sealer
from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "notifier" / "migrations"


async def run(settings: Settings, emails: int, senders: int, domain: str, window: int) -> float:
    pool = await db.create_pool(settings, name="bench")
    try:
        async with pool.acquire() as conn:
            # The planner records members it cannot plan in shared.quarantine.
            await migrations.apply(conn, quarantine.SERVICE, quarantine.MIGRATIONS)
            await migrations.apply(conn, "notifier", MIGRATIONS)
        handle = dispatch(handlers.HANDLERS)
        sealer = Sealer([settings.secret_key])
        for i in range(emails):
            member = f"b{senders}-{i}"
            contact = sealer.seal({"email": f"{member}@{domain}", "name": "Giulia Rossi"})
            events = [
                MemberChanged(
                    member_id=member,
                    revision=1,
                    opted_in=True,
                    language="it",
                    timezone="Europe/Rome",
                    sealed_contact=contact,
                ),
                MatchFound(
                    match_id=str(uuid.uuid4()),
                    posting_id="p-bench",
                    member_id=member,
                    score=0.8,
                    explanation={},
                    title="Executive Assistant",
                    company_name="Bench S.p.A.",
                    city="Milano",
                ),
            ]
            async with pool.acquire() as conn, conn.transaction():
                for event in events:
                    await handle(Envelope.wrap(event, source="/bench"), conn)
        planner = Dispatcher(pool, settings)
        while await planner.plan_due():
            pass
        runners = [Dispatcher(pool, settings, senders=window) for _ in range(senders)]
        started = time.perf_counter()
        while sum(await asyncio.gather(*(r.send_due() for r in runners))):
            pass
        elapsed = time.perf_counter() - started
        for r in runners:
            await r.close()
        sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
        assert sent == emails, f"{sent} of {emails} sent"
        assert sum(r.sent for r in runners) == emails, "an email was sent twice"
        return emails / elapsed
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 2])
    # The runner's window (attempts in flight per process): SENDERS, or another
    # width for a same-run comparison (4 was the window before the pipeline).
    parser.add_argument("--window", type=int, nargs="+", default=[SENDERS])
    args = parser.parse_args()
    base = Settings.from_env(os.environ)
    for senders in args.senders:
        for window in args.window:
            name, url = await scratch_db.create(base.database_url, "bench_delivery")
            try:
                settings = replace(base, database_url=url)
                domain = f"bench{uuid.uuid4().hex[:6]}.example"
                rate = await run(settings, args.emails, senders, domain, window)
            finally:
                await scratch_db.drop(base.database_url, name)
            load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"{args.emails} emails, {senders} sender(s) side by side (each a window of "
                f"{window}, {min(window, SMTP_CONNECTIONS)} SMTP connections): "
                f"{rate:.0f} emails/s (load {load})",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
