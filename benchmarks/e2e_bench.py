"""End to end: members through the CSV import, openings through the signed
webhook at a fixed rate, emails captured at the sink.

    STACK=dev4 deploy/local/stack.sh servers
    source <(STACK=dev4 deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.e2e_bench --members 100000 --rate 20 --seconds 60

On a fresh database and broker namespace it
1. imports N members with ``passaparola members import`` (a CSV file) while one
   ingest, matcher and notifier run, and waits until the matcher and the
   notifier have consumed every ``member.changed``: the loading time;
2. runs two configurations one after the other: one matcher and one notifier,
   then two of each; in each, posts openings at a fixed rate for a fixed time
   (each posting fits about 5 members: 5 members per city, all instant, no
   quiet hours) and waits until every email is at the sink;
3. reports, per configuration: accepted postings/s, the webhook's answer time,
   the latency from the webhook to the email captured at the sink (p50/p99;
   each mail is traced Message-ID -> notification -> posting), emails/s, and
   the main queues' depths sampled every second from the management API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import asyncpg

from services.ingest import operators
from services.ingest.signing import sign
from shared import migrations
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MEMBERS_PER_CITY = 5
SERVICE_NAMES = ("ingest", "matcher", "notifier")


def city(k: int) -> str:
    return f"Borgo Bench {k:05d}"


def csv_rows(members: int, domain: str) -> Iterator[str]:
    yield (
        "external_id,email,name,language,opted_in,consent_at,consent_text_version,"
        "desired_roles,skills,languages,cities,country,frequency,seniority,remote"
    )
    roles = ("Executive Assistant", "Assistente di direzione", "Executive Assistant;Office Manager")
    for i in range(members):
        yield (
            f"bench-{i},m{i}@{domain},Bench Member {i},{('it', 'en', 'sv')[i % 3]},true,"
            f"2026-10-15T09:30:00+02:00,2026-10,{roles[i % 3]},SAP Concur,it;en,"
            f"{city(i // MEMBERS_PER_CITY)},IT,instant,senior,hybrid"
        )


def posting(j: int, cities: int) -> dict[str, Any]:
    return {
        "external_id": f"bench-{uuid.uuid4().hex[:12]}",
        "title": ("Executive Assistant", "Assistente di Direzione")[j % 2],
        "description": f"Opening {j}.",
        "location": {"city": city((j * 7919) % cities), "country": "IT"},
        "remote": "hybrid",
        "languages_required": ["it"],
        "skills": ["SAP Concur"],
        "seniority": "senior",
        "valid_through": "2099-12-31",
        "how_to_apply": {"url": f"https://careers.example.it/{j}"},
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    operator_port: int
    # Where the services' code is: this checkout, or another one's (--code).
    code: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                # -m puts the working folder first on sys.path: its code runs.
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=self.code,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; read {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    ready_url = f"http://127.0.0.1:{self.operator_port}/readyz"
                    async with http.get(ready_url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready; read {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Run:
    name: str
    rate: float = 0.0
    seconds: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)  # external id -> wall time
    answer_s: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: int = 0
    send_s: float = 0.0
    depths: list[tuple[int, int]] = field(default_factory=list)  # (matcher, notifier)
    # Matches the notifier has taken from its queue but not sent yet (its table).
    backlog: list[int] = field(default_factory=list)
    arrived_at: dict[str, float] = field(default_factory=dict)  # email id -> at the sink


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = Settings.from_env()
        self.tag = uuid.uuid4().hex[:8]
        self.namespace = f"bench{self.tag}"
        self.dbname = f"bench_{self.tag}"
        base = self.settings.database_url.rsplit("/", 1)[0]
        self.database_url = f"{base}/{self.dbname}"
        self.domain = f"{self.namespace}.bench"
        self.work = Path(tempfile.mkdtemp(prefix="e2e-bench-"))
        self.maildir = Path(args.maildir)
        self.services: list[Service] = []
        self.env = {
            **os.environ,
            "PASSAPAROLA_DATABASE_URL": self.database_url,
            "PASSAPAROLA_BROKER_NAMESPACE": self.namespace,
            "PASSAPAROLA_LOG_LEVEL": "warning",
            "PASSAPAROLA_LOG_FORMAT": "json",
            "PASSAPAROLA_WEBHOOK_RATE_PER_S": "10000",
            "PASSAPAROLA_WEBHOOK_BURST": "10000",
            "PASSAPAROLA_NOTIFIER_WEEKLY_CAP": "1000",
        }
        self.companies: list[tuple[str, str]] = []

    def spawn(self, name: str) -> Service:
        port, operator_port = _free_port(), _free_port()
        env = {
            **self.env,
            f"PASSAPAROLA_{name.upper()}_PORT": str(port),
            # Readiness is on the operator listener, not the public port.
            f"PASSAPAROLA_{name.upper()}_OPERATOR_PORT": str(operator_port),
        }
        service = Service(
            name,
            port,
            env,
            self.work / f"{name}-{len(self.services)}.log",
            operator_port,
            Path(self.args.code).resolve(),
        )
        service.start()
        self.services.append(service)
        return service

    async def management(self, path: str) -> Any:
        parts = urlsplit(self.settings.amqp_url)
        vhost = quote(parts.path.lstrip("/") or "/", safe="")
        auth = aiohttp.encode_basic_auth(parts.username or "", parts.password or "")
        url = f"{self.settings.rabbitmq_management_url.rstrip('/')}/api/{path.format(vhost=vhost)}"
        async with (
            aiohttp.ClientSession(headers={"Authorization": auth}) as http,
            http.get(url) as response,
        ):
            return await response.json()

    async def depths(self) -> tuple[int, int]:
        found = await self.management("queues/{vhost}?columns=name,messages")
        by_name = {q["name"]: int(q.get("messages") or 0) for q in found}
        return (
            by_name.get(f"{self.namespace}.matcher", 0),
            by_name.get(f"{self.namespace}.notifier", 0),
        )

    async def setup(self) -> None:
        admin = await asyncpg.connect(self.settings.database_url)
        try:
            if self.args.reuse:
                # A copy of an earlier --keep run's database, members loaded (a
                # 100,000-member import takes minutes): every run starts from
                # the same state, on a fresh broker namespace.
                await admin.execute(
                    f'CREATE DATABASE "{self.dbname}" TEMPLATE "bench_{self.args.reuse}"'
                )
            else:
                await admin.execute(f'CREATE DATABASE "{self.dbname}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.database_url)
        try:
            for service in SERVICE_NAMES:
                await migrations.apply(conn, service, ROOT / "services" / service / "migrations")
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)
        assert pool is not None
        settings = Settings.from_env(self.env)
        try:
            for k in range(5):
                made = await operators.add_company(
                    pool, settings, f"Bench Company {k} S.r.l.", [], None
                )
                self.companies.append((str(made["company_id"]), str(made["secret"])))
        finally:
            await pool.close()

    async def teardown(self) -> None:
        for service in self.services:
            service.stop()
        if self.args.keep:
            print(
                f"\nkept for --reuse {self.tag}: database {self.dbname}, namespace {self.namespace}"
            )
            return
        admin = await asyncpg.connect(self.settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        finally:
            await admin.close()
        parts = urlsplit(self.settings.amqp_url)
        vhost = quote(parts.path.lstrip("/") or "/", safe="")
        auth = aiohttp.encode_basic_auth(parts.username or "", parts.password or "")
        api = self.settings.rabbitmq_management_url.rstrip("/") + "/api"
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
            for kind in ("queues", "exchanges"):
                async with http.get(f"{api}/{kind}/{vhost}", params={"columns": "name"}) as r:
                    names = [item["name"] for item in await r.json()]
                for name in names:
                    if name.startswith(f"{self.namespace}."):
                        async with http.delete(f"{api}/{kind}/{vhost}/{quote(name, safe='')}"):
                            pass

    async def load_members(self) -> None:
        members = self.args.members
        path = self.work / "members.csv"
        path.write_text("\n".join(csv_rows(members, self.domain)) + "\n")
        started = time.monotonic()
        done = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "passaparola"),
            "members",
            "import",
            str(path),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await done.communicate()
        imported_s = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"import failed: {err.decode()[-2000:]}")
        print(f"  {out.decode().strip()} in {imported_s:.0f} s ({members / imported_s:.0f}/s)")
        conn = await asyncpg.connect(self.database_url)
        try:
            while True:
                known = await conn.fetchval("SELECT count(*) FROM matcher.members")
                told = await conn.fetchval("SELECT count(*) FROM notifier.members")
                if known >= members and told >= members:
                    break
                await asyncio.sleep(1)
        finally:
            await conn.close()
        total = time.monotonic() - started
        print(
            f"  members loaded: imported at ingest in {imported_s:.0f} s; known to the matcher "
            f"and the notifier after {total:.0f} s ({members / total:.0f} members/s end to end)"
        )

    async def sample(self, run: Run, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    run.depths.append(await self.depths())
                    run.backlog.append(
                        await conn.fetchval(
                            "SELECT count(*) FROM notifier.notifications"
                            " WHERE state IN ('pending', 'sending')"
                        )
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await conn.close()

    async def post(self, http: aiohttp.ClientSession, run: Run, j: int, cities: int) -> None:
        company_id, secret = self.companies[j % len(self.companies)]
        data = posting(j, cities)
        body = json.dumps({"type": "job.created", "data": data}).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, msg_id, ts, body),
        }
        sent = time.time()
        async with http.post(
            f"{self.ingest_url}/v1/hooks/{company_id}", data=body, headers=headers
        ) as response:
            await response.read()
            if response.status == 202:
                run.accepted += 1
                run.sent_at[data["external_id"]] = sent
                run.answer_s.append(time.time() - sent)
            else:
                run.refused += 1

    async def warm_up(self) -> None:
        """One opening through the whole pipeline before measuring, until its
        emails are recorded as sent: a matcher started on a loaded database
        builds its index first (a minute or more at 100,000 members), and
        the notifier warms its templates."""
        run = Run("warm-up")
        cities = self.args.members // MEMBERS_PER_CITY
        async with aiohttp.ClientSession() as http:
            await self.post(http, run, 0, cities)
        started = time.monotonic()
        conn = await asyncpg.connect(self.database_url)
        try:
            while time.monotonic() - started < 900:
                sent = await conn.fetchval(
                    "SELECT count(*) FROM notifier.notifications n"
                    " JOIN ingest.postings p ON p.id::text = n.posting_id"
                    " WHERE p.data->>'external_id' = ANY($1::text[]) AND n.state = 'sent'",
                    list(run.sent_at),
                )
                if sent >= MEMBERS_PER_CITY:
                    break
                await asyncio.sleep(1)
            else:
                raise RuntimeError("the warm-up opening's emails were not sent in 15 minutes")
        finally:
            await conn.close()
        print(f"  warm-up: one opening's emails sent after {time.monotonic() - started:.0f} s")
        await self.wait_drained(set(run.sent_at))

    async def measure(self, name: str, rate: float, seconds: float) -> Run:
        run = Run(name, rate=rate, seconds=seconds)
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sample(run, stop))
        cities = self.args.members // MEMBERS_PER_CITY
        count = int(rate * seconds)
        loop = asyncio.get_running_loop()
        tasks = []
        async with aiohttp.ClientSession() as http:
            t0 = loop.time()
            for j in range(count):
                await asyncio.sleep(max(0.0, t0 + j / rate - loop.time()))
                tasks.append(asyncio.create_task(self.post(http, run, j, cities)))
            await asyncio.gather(*tasks)
            run.send_s = loop.time() - t0
        await self.wait_drained(set(run.sent_at))
        stop.set()
        await sampler
        return run

    async def wait_drained(self, externals: set[str]) -> None:
        """Until every match of these postings is an email recorded as sent."""
        conn = await asyncpg.connect(self.database_url)
        try:
            quiet = 0
            while quiet < 3:
                await asyncio.sleep(1)
                pending = await conn.fetchval(
                    "SELECT count(*) FROM notifier.notifications WHERE state IN"
                    " ('pending', 'sending')"
                )
                a, b = await self.depths()
                outbox = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL)"
                    " + (SELECT count(*) FROM matcher.outbox WHERE published_at IS NULL)"
                )
                quiet = quiet + 1 if not (pending or a or b or outbox) else 0
        finally:
            await conn.close()

    async def report(self, run: Run) -> dict[str, Any]:
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT n.email_id::text AS email_id, p.data->>'external_id' AS external"
                " FROM notifier.notifications n JOIN ingest.postings p ON p.id::text = n.posting_id"
                " WHERE n.email_id IS NOT NULL"
            )
        finally:
            await conn.close()
        external_of = {r["email_id"]: r["external"] for r in rows}
        latencies: list[float] = []
        arrivals: list[float] = []
        arrived_at: dict[str, float] = {}
        for path in self.maildir.glob("*.eml"):
            arrived = int(path.name.split("-", 1)[0]) / 1e9
            if arrived < min(run.sent_at.values(), default=0):
                continue
            head = path.read_bytes()[:4096]
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    email_id = line.split(b"<", 1)[1].split(b"@", 1)[0].decode()
                    external = external_of.get(email_id)
                    if external in run.sent_at:
                        latencies.append(arrived - run.sent_at[external])
                        arrivals.append(arrived)
                        arrived_at[email_id] = arrived
                    break
        run.arrived_at = arrived_at
        first = min(run.sent_at.values(), default=0)
        span = (max(arrivals) - first) if arrivals else float("nan")
        return {
            "configuration": run.name,
            "postings offered": int(run.rate * run.seconds),
            "accepted": run.accepted,
            "refused": run.refused,
            "accepted/s": round(run.accepted / run.send_s, 1),
            "webhook answer p50 ms": round(percentile(run.answer_s, 50) * 1000, 1),
            "webhook answer p99 ms": round(percentile(run.answer_s, 99) * 1000, 1),
            "emails at the sink / offered": f"{len(latencies)} / {run.accepted * MEMBERS_PER_CITY}",
            "emails/s (first webhook to last email)": round(len(latencies) / span, 1),
            "webhook to sink p50 s": round(percentile(latencies, 50), 2),
            "webhook to sink p95 s": round(percentile(latencies, 95), 2),
            "webhook to sink p99 s": round(percentile(latencies, 99), 2),
            "max notifier backlog (matches not yet sent)": max(run.backlog, default=0),
            "max queue depth matcher/notifier": (
                max((d[0] for d in run.depths), default=0),
                max((d[1] for d in run.depths), default=0),
            ),
        }

    async def stages(self, run: Run, arrived_at: dict[str, float]) -> list[tuple[str, list[float]]]:
        """Per email, the time spent in each stage, from the timestamps the
        services already store (``now()``: their transaction's start) and the
        sink's arrival time. Ids and times only: nothing about the members."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "WITH published AS ("
                " SELECT convert_from(body, 'UTF8')::jsonb->'data'->>'posting_id' AS posting_id,"
                "  published_at FROM ingest.outbox WHERE routing_key = 'job.created'),"
                " found AS ("
                " SELECT convert_from(body, 'UTF8')::jsonb->'data'->>'match_id' AS match_id,"
                "  published_at FROM matcher.outbox WHERE routing_key = 'match.found')"
                " SELECT e.id::text AS email_id, p.data->>'external_id' AS external,"
                "  extract(epoch FROM p.created_at)::float8 AS accepted,"
                "  extract(epoch FROM pub.published_at)::float8 AS published,"
                "  extract(epoch FROM m.created_at)::float8 AS matched,"
                "  extract(epoch FROM f.published_at)::float8 AS found,"
                "  extract(epoch FROM n.created_at)::float8 AS taken,"
                "  extract(epoch FROM e.created_at)::float8 AS planned,"
                "  extract(epoch FROM e.sent_at)::float8 AS recorded"
                " FROM notifier.notifications n"
                " JOIN notifier.emails e ON e.id = n.email_id"
                " JOIN ingest.postings p ON p.id::text = n.posting_id"
                " JOIN matcher.matches m ON m.match_id::text = n.match_id"
                " LEFT JOIN published pub ON pub.posting_id = n.posting_id"
                " LEFT JOIN found f ON f.match_id = n.match_id"
                " WHERE p.data->>'external_id' = ANY($1::text[])",
                list(run.sent_at),
            )
        finally:
            await conn.close()
        names = (
            "webhook sent -> accepted (posting stored)",
            "accepted -> job.created published (ingest relay)",
            "published -> match stored (matcher)",
            "match stored -> match.found published (matcher relay)",
            "match.found published -> notification stored (notifier consumer)",
            "notification -> email planned (notifier planner)",
            "planned -> at the sink (claim, compose, SMTP)",
            "at the sink -> sent recorded (group commit)",
        )
        spans: list[list[float]] = [[] for _ in names]
        for r in rows:
            arrived = arrived_at.get(r["email_id"])
            if arrived is None or None in (r["published"], r["found"], r["recorded"]):
                continue
            marks = (
                run.sent_at[r["external"]],
                r["accepted"],
                r["published"],
                r["matched"],
                r["found"],
                r["taken"],
                r["planned"],
                arrived,
                r["recorded"],
            )
            for k in range(len(names)):
                spans[k].append(marks[k + 1] - marks[k])
        return list(zip(names, spans, strict=True))

    @property
    def ingest_url(self) -> str:
        ingest = next(s for s in self.services if s.name == "ingest")
        return f"http://127.0.0.1:{ingest.port}"


def series(depths: list[tuple[int, int]], every: int = 5) -> str:
    picked = depths[::every]
    return (
        "matcher  "
        + " ".join(str(d[0]) for d in picked)
        + "\n    notifier "
        + " ".join(str(d[1]) for d in picked)
    )


def stage_table(stages: list[tuple[str, list[float]]]) -> str:
    """Each stage's p50/p95/p99 in ms, and the stage that adds most to the p99:
    where the backlog built up."""
    lines = [f"    {'stage':<66} {'p50':>8} {'p95':>8} {'p99':>8}  (ms)"]
    for name, spans in stages:
        figures = " ".join(f"{percentile(spans, p) * 1000:8.0f}" for p in (50, 95, 99))
        lines.append(f"    {name:<66} {figures}")
    measured = [(percentile(spans, 99), name) for name, spans in stages if spans]
    if measured:
        worst, name = max(measured)
        lines.append(f"    the backlog built up in: {name} (p99 {worst * 1000:.0f} ms)")
    return "\n".join(lines)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


async def main(args: argparse.Namespace) -> None:
    if len(args.rate) != len(args.seconds):
        raise SystemExit("give as many --seconds as --rate")
    bench = Bench(args)
    started = time.monotonic()
    print(
        f"e2e bench: {args.members} members, postings at {args.rate}/s for {args.seconds} s "
        f"per configuration ({os.cpu_count()} CPUs), services from {args.code}"
    )
    await bench.setup()
    results = []
    try:
        for name in SERVICE_NAMES:
            bench.spawn(name)
        await asyncio.gather(*(s.ready() for s in bench.services))
        if not args.reuse:
            await bench.load_members()
        configurations = (("1 matcher + 1 notifier", 0), ("2 matchers + 2 notifiers", 1))
        for label, extra in configurations[: args.configurations]:
            added = [bench.spawn(n) for n in ("matcher", "notifier") for _ in range(extra)]
            await asyncio.gather(*(s.ready() for s in added))
            if added:
                await asyncio.sleep(args.warmup)  # the new matcher builds its index
            await bench.warm_up()
            for rate, seconds in zip(args.rate, args.seconds, strict=True):
                print(f"\n  {label}, {rate:g} openings/s for {seconds:g} s, {load_average()}:")
                run = await bench.measure(label, rate, seconds)
                figures = await bench.report(run)
                results.append(figures)
                for key, value in figures.items():
                    print(f"    {key}: {value}")
                print(f"    queue depths every 5 s: {series(run.depths)}")
                print(f"    notifier backlog    {' '.join(str(b) for b in run.backlog[::5])}")
                print(stage_table(await bench.stages(run, run.arrived_at)))
                print(f"    after the run: {load_average()}")
    finally:
        await bench.teardown()
    print(f"\ntotal {time.monotonic() - started:.0f} s; logs in {bench.work}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[20.0], help="postings per second (runs in turn)"
    )
    parser.add_argument(
        "--seconds", type=float, nargs="+", default=[60.0], help="how long, one per --rate"
    )
    parser.add_argument("--warmup", type=float, default=30.0, help="after adding processes")
    parser.add_argument(
        "--configurations", type=int, choices=(1, 2), default=2, help="1: one of each only"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and namespace for --reuse"
    )
    parser.add_argument(
        "--reuse", metavar="TAG", help="a copy of an earlier --keep run's database (no import)"
    )
    parser.add_argument(
        "--code", default=str(ROOT), help="the checkout whose services run (a baseline's)"
    )
    parser.add_argument(
        "--maildir",
        default=os.environ.get("PASSAPAROLA_BENCH_MAILDIR", str(ROOT / "var" / "dev4" / "mail")),
        help="the sink's folder (var/<stack>/mail)",
    )
    asyncio.run(main(parser.parse_args()))
