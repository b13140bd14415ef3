"""Member changes through the matcher and the notifier: batches against one by one.

    STACK=dev4 deploy/local/stack.sh servers
    source <(STACK=dev4 deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.members_bench --members 20000 --postings 50
    .venv/bin/python -m benchmarks.members_bench --import-members 100000

For each configuration (one by one: ``PASSAPAROLA_CONSUMER_BATCH=1``, the
baseline; then batches of the default size), on a fresh database and broker
namespace, one matcher and one notifier run; ``--postings`` open postings are
published and settled first (every member change is scored against them, as
in production), then N ``member.changed`` events with realistic profiles
(several roles and cities, languages, skills, an employer; a tenth opted
out) are published while the two services are stopped, and wait in their
queues; the services start again, and the figure is N over the time from the
first member applied to the moment both services hold every member (so
neither the publisher's speed nor start-up counts). The last line is
``ratio batch/one-by-one: X``.

``--import-members N`` runs instead the members CSV import of N members
(``passaparola members import``, as e2e_bench does) with an ingest, a
matcher and a notifier, and reports the time from the end of the import to
the moment the matcher and the notifier hold every member.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

from benchmarks.e2e_bench import ROOT, Bench, Service, csv_rows
from shared import member_companies
from shared.events import Envelope, JobCreated, MemberChanged
from shared.publisher import Publisher
from shared.sealing import sealer_for
from shared.service import topology_from
from shared.settings import Settings

ROLES = (
    ("Executive Assistant",),
    ("Assistente di direzione", "Office Manager"),
    ("Personal Assistant", "Executive Assistant"),
    ("Ledningsassistent",),
    ("Team Assistant", "Administrative Assistant"),
)
# Many places, as a community spread over three countries has: a posting
# fits the members of its city (and the remote ones), not a fifth of them.
CITIES = tuple(f"{name} {k}" for k in range(100) for name in ("Borgo", "Vik", "Ashby", "Villa"))
COUNTRY = {"Vik": "SE", "Ashby": "GB"}
# Employers and hiring companies far apart, as most are: a name close to the
# posting's company holds the match back (the never-your-employer rule).
EMPLOYERS = ("Rossi Avvocati", "Lindqvist Bygg AB", "Thames Insurance Ltd", "Ferretti Moda S.p.A.")
COMPANIES = ("Aurora Logistica", "Nordvik Energi", "Helix Pharma", "Orbis Consulting")
SKILLS = ("SAP Concur", "Microsoft Office", "Travel planning", "Minute taking", "Board meetings")


def member(i: int, revision: int = 1) -> MemberChanged:
    city = CITIES[i % len(CITIES)]
    return MemberChanged(
        member_id=f"bench-member-{i}",
        revision=revision,
        opted_in=i % 10 != 0,
        language=("it", "en", "sv")[i % 3],
        desired_roles=ROLES[i % len(ROLES)],
        skills=SKILLS[: 1 + i % len(SKILLS)],
        languages=("it", "en") if i % 2 else ("en", "sv"),
        cities=(city, CITIES[(i + 3) % len(CITIES)]),
        country=COUNTRY.get(city.split()[0], "IT"),
        remote=("no", "hybrid", "remote")[i % 3],
        seniority=("junior", "mid", "senior")[i % 3],
        employer_names=(f"{EMPLOYERS[i % len(EMPLOYERS)]} {i % 997}",),
        frequency=("instant", "daily", "weekly")[i % 3],
        quiet_hours=("22:00", "07:30") if i % 4 == 0 else (),
    )


def posting(j: int) -> JobCreated:
    city = CITIES[(j * 37) % len(CITIES)]
    return JobCreated(
        posting_id=f"bench-posting-{j}",
        company_id=f"bench-company-{j % len(COMPANIES)}",
        revision=1,
        title=("Executive Assistant", "Assistente di Direzione", "Office Manager")[j % 3],
        city=city,
        country=COUNTRY.get(city.split()[0], "IT"),
        remote=("no", "hybrid")[j % 2],
        languages_required=("en",),
        skills=SKILLS[: 1 + j % 3],
        seniority=("mid", "senior")[j % 2],
        valid_through="2099-12-31",
        company_name=COMPANIES[j % len(COMPANIES)],
        company_names=(COMPANIES[j % len(COMPANIES)],),
        apply_url=f"https://careers.example.it/{j}",
    )


async def publish_all(settings: Settings, envelopes: list[Envelope]) -> float:
    """Publish (confirmed) in concurrent slices; returns the seconds it took."""
    connection = await aio_pika.connect_robust(settings.amqp_url)
    try:
        publisher = await Publisher.create(await connection.channel(), topology_from(settings))
        started = time.monotonic()
        step = 500
        for k in range(0, len(envelopes), step):
            await asyncio.gather(*(publisher.publish(e) for e in envelopes[k : k + step]))
        return time.monotonic() - started
    finally:
        await connection.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(bench: Bench) -> dict[str, float]:
    return {s.name: cpu_seconds(s.proc.pid) for s in bench.services if s.proc is not None}


async def wait_for(database_url: str, query: str, want: int, every: float = 0.2) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            if await conn.fetchval(query) >= want:
                break
            await asyncio.sleep(every)
    finally:
        await conn.close()


async def members_held(database_url: str, want: int) -> dict[str, float]:
    """When each service held every member (time.monotonic())."""

    async def held(service: str) -> tuple[str, float]:
        await wait_for(database_url, f"SELECT count(*) FROM {service}.members", want)  # noqa: S608 - our schema names
        return service, time.monotonic()

    return dict(await asyncio.gather(held("matcher"), held("notifier")))


async def outbox_drained(database_url: str) -> float:
    """When ingest's relay had published every event of the import."""
    query = "SELECT (count(*) = 0)::int FROM ingest.outbox WHERE published_at IS NULL"
    await wait_for(database_url, query, 1)
    return time.monotonic()


async def run_config(args: argparse.Namespace, label: str, batch: int) -> dict[str, Any]:
    bench = Bench(args)
    bench.env["PASSAPAROLA_CONSUMER_BATCH"] = str(batch)
    bench.env["PASSAPAROLA_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "warning")
    settings = Settings.from_env(bench.env)
    await bench.setup()
    try:
        for name in ("matcher", "notifier"):
            bench.spawn(name)
        await asyncio.gather(*(s.ready() for s in bench.services))
        postings = [Envelope.wrap(posting(j), source="/bench") for j in range(args.postings)]
        await publish_all(settings, postings)
        await wait_for(bench.database_url, "SELECT count(*) FROM matcher.postings", args.postings)
        # The events wait in the queues while the services are down, so that
        # the figure is the consumers' alone, not the publisher's.
        for service in bench.services:
            service.stop()
        # As ingest publishes them: the companies sealed (member.changed v2).
        sealer = sealer_for(settings.secret_keys)
        events = [
            Envelope.wrap(member_companies.sealed(member(i), sealer), source="/bench")
            for i in range(args.members)
        ]
        await publish_all(settings, events)
        for service in bench.services:
            service.start()
        # Per service, from its first member applied (start-up is not member
        # work) to its last; the figure is the slower one's.
        starts: dict[str, tuple[float, float]] = {}

        async def first(service: Service) -> None:
            query = f"SELECT count(*) FROM {service.name}.members"  # noqa: S608 - our schema names
            await wait_for(bench.database_url, query, 1, every=0.02)
            assert service.proc is not None
            starts[service.name] = (time.monotonic(), cpu_seconds(service.proc.pid))

        await asyncio.gather(*(first(s) for s in bench.services))
        done = await members_held(bench.database_url, args.members)
        spent = cpu_of(bench)
        took = {name: done[name] - at for name, (at, _cpu) in starts.items()}
        elapsed = max(took.values())
        # CPU per member: what the machine's load changes least.
        cpu = {name: (spent[name] - c) / args.members * 1000 for name, (_at, c) in starts.items()}
        each = ", ".join(f"{name} {s:.1f} s" for name, s in took.items())
        each += "; CPU per member " + ", ".join(f"{n} {ms:.2f} ms" for n, ms in cpu.items())
        conn = await asyncpg.connect(bench.database_url)
        try:
            matches = await conn.fetchval("SELECT count(*) FROM matcher.matches")
        finally:
            await conn.close()
        figures = {
            "label": label,
            "rate": args.members / elapsed,
            "seconds": elapsed,
            "matches": matches,
            "load": os.getloadavg(),
        }
        print(
            f"  {label}: {args.members} member.changed applied by matcher and notifier in "
            f"{elapsed:.1f} s = {figures['rate']:.0f}/s ({each}; {matches} matches told; "
            f"load {' '.join(f'{x:.2f}' for x in figures['load'])})"
        )
        return figures
    finally:
        await bench.teardown()


async def import_run(args: argparse.Namespace) -> None:
    members = args.members = args.import_members
    bench = Bench(args)
    await bench.setup()
    try:
        for name in ("ingest", "matcher", "notifier"):
            bench.spawn(name)
        await asyncio.gather(*(s.ready() for s in bench.services))
        path = bench.work / "members.csv"
        path.write_text("\n".join(csv_rows(members, bench.domain)) + "\n")
        started = time.monotonic()
        done = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "passaparola"),
            "members",
            "import",
            str(path),
            env=bench.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await done.communicate()
        ended = time.monotonic()
        if done.returncode != 0:
            raise RuntimeError(f"import failed: {err.decode()[-2000:]}")
        published, _ = await asyncio.gather(
            outbox_drained(bench.database_url), members_held(bench.database_url, members)
        )
        held = time.monotonic()
        print(
            f"  import of {members} members: {out.decode().strip()} in {ended - started:.0f} s "
            f"({members / (ended - started):.0f}/s); the outbox relay published the last "
            f"{published - ended:.1f} s after the import ended; matcher and notifier hold "
            f"them all {held - ended:.1f} s after it ({held - started:.0f} s in all; "
            f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
        )
    finally:
        await bench.teardown()


async def main(args: argparse.Namespace) -> None:
    print(
        f"members bench ({os.cpu_count()} CPUs, load "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    if args.import_members:
        await import_run(args)
        return
    print(f"  {args.members} member.changed, {args.postings} open postings")
    if args.batch_only:
        await run_config(args, f"batches of {args.batch}", args.batch)
        return
    baseline = await run_config(args, "one by one (batch 1)", 1)
    batched = await run_config(args, f"batches of {args.batch}", args.batch)
    print(f"ratio batch/one-by-one: {batched['rate'] / baseline['rate']:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--postings", type=int, default=50, help="open while members change")
    parser.add_argument("--batch", type=int, default=200, help="the batched configuration's size")
    parser.add_argument("--batch-only", action="store_true", help="no baseline (profiling)")
    parser.add_argument("--import-members", type=int, default=0, help="run the CSV import instead")
    parser.add_argument(
        "--maildir",
        default=os.environ.get("PASSAPAROLA_BENCH_MAILDIR", str(ROOT / "var" / "dev4" / "mail")),
        help="unused here; e2e_bench's setting",
    )
    # e2e_bench's Bench also reads these: a fresh database, this checkout's services.
    parser.set_defaults(keep=False, reuse=None, code=str(ROOT))
    asyncio.run(main(parser.parse_args()))
