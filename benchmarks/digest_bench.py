"""A real daily digest run, from the database to the local SMTP sink, through
the service's own code: the planner (``Dispatcher.plan_due``) and the
delivery runner (``Dispatcher.send_due``: claim, compose, send, record).

    source <(STACK=dev2 deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.digest_bench --members 100000

Works in a scratch database (created on the stack's server, dropped at the
end). N daily-digest members (three languages, two time zones, each with
their own sealed address) and 3 to 5 pending jobs each (of 200 openings per
language), due now, are written with ``COPY`` and ``unnest`` (not through
the API: the run, not the import, is measured).
Then, timed apart, each with wall time, the process's CPU time and the load
average:

1. baseline: ``--baseline-members`` of them (N/20 by default) planned one
   member at a time, as the planner did before (``Dispatcher.plan_each``:
   ``PLANNERS`` side by side, one transaction each);
2. plan: every member planned by the planner's rounds (``plan_due``: a batch
   of members per transaction), until nothing is due;
3. send: every digest through the delivery runner to the sink, until none is
   left; the database must then say each member's digest was sent exactly
   once, and the sink must hold exactly one mail per member. Before it,
   the sink's ceiling: bare ``aiosmtplib`` sending pre-built messages over
   the same number of connections (``notifier_bench.bare``).

The last lines give plan + send (the service overlaps them; this is the
sum), and the ratio of the two planners' members/s of CPU.

Then the CPU of a digest, process by process, for the plan and the send
phases: this process (the notifier's planner and runner), PostgreSQL (the
postmaster, its live backends and helpers, and the children it has reaped:
``/proc/<pid>/stat`` utime + stime + cutime + cstime), the SMTP sink and
RabbitMQ (not on a digest's path; shown to say so). The servers are found by
the ports of the settings (``ss -ltnp``). From the total, the machine's
bound: the least wall time 100,000 digests can take on this machine's cores
if every process kept them all busy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import notifier_bench, proc_cpu, scratch_db
from services.notifier import queries
from services.notifier.preview import sample_jobs
from services.notifier.sender import SENDERS, SMTP_CONNECTIONS, Dispatcher
from shared import db, logs, migrations, quarantine
from shared.sealing import Sealer
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "notifier" / "migrations"
LANGUAGES = ("it", "sv", "en")
ZONES = {"it": "Europe/Rome", "sv": "Europe/Stockholm", "en": "Europe/Rome"}
POSTINGS = 200  # openings per language
NAMES = ("Giulia Rossi", "Karin Lindqvist", "Anna-Lena Berg", "Åsa Holm", None)

MEMBER_COLUMNS = (
    "member_id",
    "revision",
    "opted_in",
    "language",
    "timezone",
    "frequency",
    "sealed_contact",
)
NOTIFICATION_COLUMNS = (
    "id",
    "match_id",
    "member_id",
    "posting_id",
    "posting_revision",
    "score",
    "explanation",
    "title",
    "company_name",
    "city",
    "state",
    "due_at",
    "created_at",
)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


async def seed(
    pool: db.Pool, settings: Settings, prefix: str, members: int, domain: str, due_ago: int
) -> int:
    """N digest members and their jobs, due ``due_ago`` minutes ago, with COPY;
    the number of jobs."""
    sealer = Sealer([settings.secret_key])
    rng = random.Random(members)
    # POSTINGS openings per language (the preview's samples, each title and
    # company numbered), 3 to 5 of them per member: as on a real day, a
    # digest's combination of openings seldom repeats, each opening does.
    jobs = {
        lang: [
            dataclasses.replace(job, title=f"{job.title} {k}", company=f"{job.company} {k}")
            for k in range(-(-POSTINGS // 3))
            for job in sample_jobs(lang)  # type: ignore[arg-type]
        ][:POSTINGS]
        for lang in LANGUAGES
    }
    now = datetime.now(UTC)
    member_rows = []
    job_rows = []
    for i in range(members):
        member_id = f"{prefix}-{i}"
        language = LANGUAGES[i % 3]
        name = NAMES[i % len(NAMES)]
        contact = {"email": f"{member_id}@{domain}", **({"name": name} if name else {})}
        member_rows.append(
            (member_id, 1, True, language, ZONES[language], "daily", sealer.seal(contact))
        )
        for k in rng.sample(range(POSTINGS), rng.randint(3, 5)):
            job = jobs[language][k]
            job_rows.append(
                (
                    uuid.uuid4(),
                    f"{member_id}-m{k}",
                    member_id,
                    f"{language}-p{k}",
                    1,
                    round(rng.uniform(0.6, 0.99), 3),
                    dict(job.explanation),
                    job.title,
                    job.company,
                    job.city,
                    "pending",
                    now - timedelta(minutes=due_ago),
                    now - timedelta(hours=rng.randint(1, 20)),
                )
            )
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "members", schema_name="notifier", records=member_rows, columns=MEMBER_COLUMNS
        )
        # The jobs with unnest (COPY's binary format has no encoder for the
        # pool's jsonb codec), in chunks.
        for start in range(0, len(job_rows), 20_000):
            chunk = job_rows[start : start + 20_000]
            await conn.execute(
                f"INSERT INTO notifier.notifications ({', '.join(NOTIFICATION_COLUMNS)})"  # noqa: S608 - our own column names
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
                " $5::int[], $6::float8[], $7::jsonb[], $8::text[], $9::text[], $10::text[],"
                " $11::text[], $12::timestamptz[], $13::timestamptz[])",
                *(list(column) for column in zip(*chunk, strict=True)),
            )
        await conn.execute("ANALYZE")
    return len(job_rows)


class ServerCpu:
    """CPU seconds of the stack's servers and of this process, read together."""

    def __init__(self, settings: Settings) -> None:
        self.pids: dict[str, tuple[int, bool]] = {}
        for name, port, tree in (
            ("PostgreSQL", urlsplit(settings.database_url).port or 5432, True),
            ("SMTP sink", settings.smtp_port, False),
            ("RabbitMQ (not on the path)", urlsplit(settings.amqp_url).port or 5672, False),
        ):
            pid = proc_cpu.listener(port)
            if pid is not None:
                self.pids[name] = (pid, tree)

    def read(self) -> dict[str, float]:
        cpu = {"notifier (this process)": time.process_time()}
        for name, (pid, tree) in self.pids.items():
            try:
                cpu[name] = proc_cpu.cpu_of(pid, tree)
            except OSError:
                cpu[name] = float("nan")
        return cpu


def _used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def cpu_table(plan: dict[str, float], send: dict[str, float], digests: int) -> list[str]:
    """CPU per digest (µs) per process and phase, then the machine's bound."""
    on_path = [name for name in plan if not name.startswith("RabbitMQ")]
    lines = [
        f"CPU per digest (µs), {digests:,} digests | plan | send | plan + send",
    ]
    for name in plan:
        p, s = plan[name] / digests * 1e6, send[name] / digests * 1e6
        lines.append(f"  {name} | {p:,.0f} | {s:,.0f} | {p + s:,.0f}")
    total = sum(plan[n] + send[n] for n in on_path) / digests
    lines.append(
        f"  all on the path | {sum(plan[n] for n in on_path) / digests * 1e6:,.0f}"
        f" | {sum(send[n] for n in on_path) / digests * 1e6:,.0f} | {total * 1e6:,.0f}"
    )
    cores = os.cpu_count() or 1
    lines.append(
        f"machine bound: 100,000 digests need {total * 100_000:,.1f} s of CPU,"
        f" at least {total * 100_000 / cores:,.1f} s of wall time on {cores} cores"
        f" (under 60 s needs ≤ {60 * cores / 100_000 * 1e6:,.0f} µs a digest in all)"
    )
    return lines


class Timed:
    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.load = ""

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.load = _load()


async def plan_one_by_one(dispatcher: Dispatcher, pool: db.Pool, prefix: str) -> None:
    """The old rounds: the members of the first 100 due rows (the baseline's
    members fall due first), planned one at a time."""
    while True:
        async with pool.acquire() as conn:
            members = [m for m in await queries.due_members(conn, 100) if m.startswith(prefix)]
        if not members:
            return
        await dispatcher.plan_each(members)


async def plan_batched(dispatcher: Dispatcher, pool: db.Pool) -> None:
    while True:
        await dispatcher.plan_due()
        async with pool.acquire() as conn:
            if not await queries.due_members(conn, 1):
                return


def _sink_count(maildir: Path, domain: str) -> tuple[int, int]:
    """Mails in the sink for ``domain``, and distinct recipients (files removed)."""
    needle = f"@{domain}".encode()
    mails, recipients = 0, set()
    for path in maildir.glob("*.eml"):
        head = path.read_bytes()[:400]
        if needle not in head:
            continue
        line = next(x for x in head.split(b"\r\n") if x.startswith(b"X-Sink-Rcpt-To:"))
        recipients.add(line.split(b":", 1)[1].strip())
        mails += 1
        path.unlink()
    return mails, len(recipients)


async def run(
    settings: Settings,
    members: int,
    baseline: int,
    bare: int,
    maildir: Path | None,
    senders: int,
    connections: int,
) -> None:
    pool = await db.create_pool(settings, name="digest-bench")
    domain = f"digest{uuid.uuid4().hex[:6]}.example"
    try:
        async with pool.acquire() as conn:
            await migrations.apply(conn, quarantine.SERVICE, quarantine.MIGRATIONS)
            await migrations.apply(conn, "notifier", MIGRATIONS)
        with Timed() as t:
            jobs = await seed(pool, settings, "old", baseline, "old." + domain, due_ago=2)
            jobs += await seed(pool, settings, "new", members, domain, due_ago=1)
        print(f"seeded {baseline:,} + {members:,} members, {jobs:,} jobs in {t.wall:.1f} s")
        dispatcher = Dispatcher(pool, settings, senders=senders, connections=connections)
        servers = ServerCpu(settings)

        with Timed() as old:
            await plan_one_by_one(dispatcher, pool, "old")
        planned_old = await pool.fetchval(
            "SELECT count(*) FROM notifier.emails WHERE member_id LIKE 'old-%'"
        )
        assert planned_old == baseline, f"{planned_old} of {baseline} planned"
        # The baseline's digests are not sent: the send phase below is the
        # batched plan's alone.
        await pool.execute("UPDATE notifier.emails SET state = 'cancelled' WHERE state = 'sending'")
        print(
            f"baseline, one member at a time: {baseline:,} members planned in {old.wall:.1f} s"
            f" wall, {old.cpu:.1f} s CPU: {baseline / old.wall:,.0f}/s wall,"
            f" {baseline / old.cpu:,.0f}/s of CPU (load {old.load})",
            flush=True,
        )

        before = servers.read()
        with Timed() as plan:
            await plan_batched(dispatcher, pool)
        plan_cpu = _used(before, servers.read())
        planned = await pool.fetchval(
            "SELECT count(*) FROM notifier.emails WHERE state = 'sending'"
        )
        assert planned == members, f"{planned} of {members} planned"
        print(
            f"plan, batched: {members:,} members planned in {plan.wall:.1f} s wall,"
            f" {plan.cpu:.1f} s CPU: {members / plan.wall:,.0f}/s wall,"
            f" {members / plan.cpu:,.0f}/s of CPU (load {plan.load})",
            flush=True,
        )

        ceiling, _ = await notifier_bench.bare(settings, bare)
        if maildir is not None:
            _sink_count(maildir, "bench.example")
        print(
            f"sink ceiling: bare aiosmtplib, {bare:,} pre-built instant emails over"
            f" {SMTP_CONNECTIONS} connections: {ceiling:,.0f}/s (load {_load()})",
            flush=True,
        )

        before = servers.read()
        with Timed() as send:
            while await dispatcher.send_due():
                pass
        send_cpu = _used(before, servers.read())
        await dispatcher.close()
        sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
        assert sent == members == dispatcher.sent, f"{sent} recorded, {dispatcher.sent} sent"
        print(
            f"send ({senders} in flight, {connections} connections): {members:,} digests"
            f" composed and sent to the sink in {send.wall:.1f} s wall,"
            f" {send.cpu:.1f} s CPU: {members / send.wall:,.0f}/s wall,"
            f" {members / send.cpu:,.0f}/s of CPU (load {send.load})",
            flush=True,
        )
        if maildir is not None:
            mails, recipients = _sink_count(maildir, domain)
            assert mails == recipients == members, f"sink: {mails} mails to {recipients}"
            print(f"sink: {mails:,} mails, one per member")
        total_wall, total_cpu = plan.wall + send.wall, plan.cpu + send.cpu
        print(
            f"daily run, plan + send: {members:,} digests in {total_wall:.1f} s wall,"
            f" {total_cpu:.1f} s CPU: {members / total_wall:,.0f} digests/s (load {_load()})"
        )
        print(f"ratio send/bare sink: {members / send.wall / ceiling:.2f}")
        for line in cpu_table(plan_cpu, send_cpu, members):
            print(line)
        ratio = (members / plan.cpu) / (baseline / old.cpu)
        print(f"ratio planning batched/one-by-one (members/s of CPU): {ratio:.1f}")
        ratio = (members / plan.wall) / (baseline / old.wall)
        print(f"ratio planning batched/one-by-one (members/s of wall time): {ratio:.1f}")
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--baseline-members", type=int, default=None)
    parser.add_argument("--bare", type=int, default=2000, help="emails for the sink's ceiling")
    parser.add_argument("--senders", type=int, default=SENDERS, help="digests in flight")
    parser.add_argument("--connections", type=int, default=SMTP_CONNECTIONS)
    parser.add_argument(
        "--maildir",
        type=Path,
        default=None,
        help="the sink's folder (var/$STACK/mail): count the mails there, then remove them",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=Path(os.devnull),
        help="where the service's JSON log lines go (its cost is the service's: one per email)",
    )
    args = parser.parse_args()
    base = Settings.from_env(os.environ)
    # As the service logs (JSON, redacted), not to the terminal.
    log_file = args.log.open("a", encoding="utf-8")
    logs.configure(fmt="json", stream=log_file)
    baseline = args.baseline_members or max(1, args.members // 20)
    print(f"load average at start: {_load()}", flush=True)
    name, url = await scratch_db.create(base.database_url, "bench_digest")
    try:
        await run(
            replace(base, database_url=url),
            args.members,
            baseline,
            args.bare,
            args.maildir,
            args.senders,
            args.connections,
        )
    finally:
        await scratch_db.drop(base.database_url, name)


if __name__ == "__main__":
    asyncio.run(main())
