"""Ingest benchmark: signed webhooks against the real service (durable
acceptance: verify, validate, posting + outbox in one transaction) next to a
bare aiohttp endpoint that only verifies the signature, in the same run.

    .venv/bin/python -m benchmarks.ingest_bench [--requests 3000] [--concurrency 32]
        [--rounds 4] [--processes 1] [--log-level warning] [--offered 0.30]

At saturation (``--concurrency`` connections, each sending its next request
when the last is answered) a p99 says how long the queue was, not how long
a webhook takes. ``--offered F`` adds, after the closed-loop rounds, an
open-loop phase per endpoint at a fixed rate: F times the bare endpoint's
rate measured in the closed-loop rounds of the same run. Requests are sent
on schedule whether or not earlier ones have been answered, and each one's
latency counts from its scheduled time, so a server that falls behind shows
it.

Uses the test stack's PostgreSQL and RabbitMQ (started if needed), or those of
the stack named by ``TEST_STACK`` as the tests do, with a database of its own,
dropped afterwards. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from benchmarks import proc_cpu, scratch_db
from services.ingest.signing import new_secret, sign
from tests.helpers import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


def stack_env() -> dict[str, str]:
    # The stack the tests use: on a machine shared by several people each
    # runs against a stack of their own.
    env = {**os.environ, "STACK": os.environ.get("TEST_STACK", "test")}
    subprocess.run(
        [str(ROOT / "deploy/local/stack.sh"), "servers"], check=True, env=env, capture_output=True
    )
    out = subprocess.run(
        [str(ROOT / "deploy/local/stack.sh"), "env"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())


def posting(i: int) -> dict[str, Any]:
    return {
        "type": "job.created",
        "data": {
            "external_id": f"bench-{i}",
            "title": "Executive Assistant to the CEO",
            "description": "Agenda, travel and board meetings for the CEO. " * 10,
            "employment_type": "FULL_TIME",
            "location": {"city": "Milano", "region": "Lombardia", "country": "IT"},
            "remote": "hybrid",
            "languages_required": ["it", "en"],
            "skills": ["SAP Concur"],
            "seniority": "senior",
            "valid_through": "2027-01-31",
        },
    }


@dataclass
class Phase:
    """What the requests of one phase were answered, and how fast."""

    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


@dataclass
class Figures:
    """What one endpoint did over all its rounds."""

    accepted: int = 0
    elapsed: float = 0.0
    cpu_s: float = 0.0  # the server process's, user + system
    latencies: list[float] = field(default_factory=list)
    # PostgreSQL's, RabbitMQ's and this client's CPU over the same phases.
    others: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, pids: list[int], requests: int) -> Iterator[Phase]:
        """One phase of ``requests`` requests to the server running as
        ``pids``: its time, everyone's CPU and the answers, added to these
        figures; every request must have been accepted."""
        seen = Phase()
        started, cpu, others = time.perf_counter(), cpu_seconds(pids), others_cpu()
        yield seen
        self.elapsed += time.perf_counter() - started
        self.cpu_s += cpu_seconds(pids) - cpu
        for name, value in others_cpu().items():
            self.others[name] = self.others.get(name, 0.0) + value - others[name]
        accepted = seen.statuses.get(202, 0)
        if accepted != requests:
            raise SystemExit(f"not every request was accepted: {seen.statuses}")
        self.accepted += accepted
        self.latencies.extend(seen.latencies)

    def summary(self) -> dict[str, float]:
        latencies = sorted(self.latencies)
        return {
            "rate": self.accepted / self.elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "cpu_ms": self.cpu_s / self.accepted * 1000,
        }


# The stack's servers whose CPU is read beside the endpoint's: (pid, with its
# children). Set in main from the ports of the stack's settings.
SERVERS: dict[str, tuple[int, bool]] = {}


def others_cpu() -> dict[str, float]:
    cpu = {"client (this process)": time.process_time()}
    for name, (pid, tree) in SERVERS.items():
        cpu[name] = proc_cpu.cpu_of(pid, tree)
    return cpu


def pid_of(process: ServiceProcess) -> int:
    assert process.proc is not None, "started"
    return process.proc.pid


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes so far (Linux). Unlike a rate, it
    hardly depends on what else the shared machine is running."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def drive(
    url: str,
    secret: str,
    first: int,
    requests: int,
    concurrency: int,
    into: Figures,
    pids: list[int],
) -> None:
    """``requests`` postings numbered from ``first`` (each round new ones),
    to the server running as ``pids``."""
    bodies = [json.dumps(posting(first + i)).encode() for i in range(requests)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(http: aiohttp.ClientSession, seen: Phase) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            headers = signed(secret, body)
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                seen.statuses[response.status] = seen.statuses.get(response.status, 0) + 1
            seen.latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        with into.phase(pids, requests) as seen:
            await asyncio.gather(*[worker(http, seen) for _ in range(concurrency)])


def signed(secret: str, body: bytes) -> dict[str, str]:
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


async def drive_open(
    url: str, secret: str, first: int, requests: int, rate: float, into: Figures, pids: list[int]
) -> None:
    """``requests`` postings sent at ``rate`` per second on a fixed schedule
    (open loop); each latency runs from the request's scheduled time."""
    # Signed beforehand (the signature holds for 5 minutes): the client's
    # signing is not in the way of its schedule.
    prepared = [
        (body, signed(secret, body))
        for body in (json.dumps(posting(first + i)).encode() for i in range(requests))
    ]

    async def send(
        http: aiohttp.ClientSession, body: bytes, headers: dict[str, str], at: float, seen: Phase
    ) -> None:
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            seen.statuses[response.status] = seen.statuses.get(response.status, 0) + 1
        seen.latencies.append(time.perf_counter() - at)

    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as http:
        with into.phase(pids, requests) as seen:
            started = time.perf_counter()
            sending: list[asyncio.Task[None]] = []
            for i, (body, headers) in enumerate(prepared):
                at = started + i / rate
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sending.append(asyncio.create_task(send(http, body, headers, at, seen)))
            await asyncio.gather(*sending)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes per endpoint, sharing its port (SO_REUSEPORT)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        help="the ingest process's PASSAPAROLA_LOG_LEVEL (production runs at info)",
    )
    parser.add_argument(
        "--offered",
        type=float,
        default=0.0,
        help="then an open-loop phase per endpoint at this fraction of bare's closed-loop rate",
    )
    args = parser.parse_args()
    env = stack_env()
    for server, url, tree in (
        ("PostgreSQL", env["PASSAPAROLA_DATABASE_URL"], True),
        ("RabbitMQ", env["PASSAPAROLA_AMQP_URL"], False),
    ):
        pid = proc_cpu.listener(urlsplit(url).port or 0)
        if pid is not None:
            SERVERS[server] = (pid, tree)
    admin_url = env["PASSAPAROLA_DATABASE_URL"]
    name, db_url = await scratch_db.create(admin_url, "bench")
    port, bare_port = free_port(), free_port()
    service_env = {
        **os.environ,
        **env,
        "PASSAPAROLA_DATABASE_URL": db_url,
        "PASSAPAROLA_INGEST_PORT": str(port),
        "PASSAPAROLA_LOG_LEVEL": args.log_level,
        "PASSAPAROLA_BROKER_NAMESPACE": name,
        "PASSAPAROLA_DB_POOL_MAX": "20",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "1000000",
        "PASSAPAROLA_WEBHOOK_BURST": "10000",
    }
    if args.processes > 1:
        service_env["PASSAPAROLA_HTTP_REUSE_PORT"] = "true"
    logs = Path("/tmp") / name
    logs.mkdir()
    # Each process gets an operator port of its own (ServiceProcess picks one).
    ingests = [
        ServiceProcess(["-m", "services.ingest"], service_env, port, logs / f"ingest-{n}.log")
        for n in range(args.processes)
    ]
    secret = new_secret()
    bares = []
    for n in range(args.processes):
        ready_port = free_port()
        bares.append(
            ServiceProcess(
                [str(ROOT / "benchmarks/bare_webhook.py"), secret, str(bare_port), str(ready_port)],
                service_env,
                bare_port,
                logs / f"bare-{n}.log",
                operator_port=ready_port,
            )
        )
    try:
        for ingest in ingests:  # one after the other: the first one migrates
            await ingest.start()
        made = subprocess.run(
            [
                str(ROOT / ".venv/bin/passaparola"),
                "company",
                "add",
                "Bench S.p.A.",
                "--contact-email",
                "referrals@bench.example",
                "--json",
            ],
            env=service_env,
            check=True,
            capture_output=True,
            text=True,
        )
        company = json.loads(made.stdout)
        for bare in bares:
            await bare.start()
        url = f"http://127.0.0.1:{port}/v1/hooks/{company['company_id']}"
        bare_url = f"http://127.0.0.1:{bare_port}/v1/hooks/{company['company_id']}"
        bare_pid = [pid_of(process) for process in bares]
        ingest_pid = [pid_of(process) for process in ingests]
        await drive(bare_url, secret, 0, 200, args.concurrency, Figures(), bare_pid)  # warm-up
        await drive(url, company["secret"], 0, 200, args.concurrency, Figures(), ingest_pid)
        # The two endpoints take turns, round by round: the machine is shared,
        # and a load that changes between two long phases would skew the
        # ratio. Every round posts openings the service has not seen.
        bare_figures, durable_figures = Figures(), Figures()
        per_round = args.requests // args.rounds
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            first = 200 + round_ * per_round
            await drive(
                bare_url, secret, first, per_round, args.concurrency, bare_figures, bare_pid
            )
            await drive(
                url,
                company["secret"],
                first,
                per_round,
                args.concurrency,
                durable_figures,
                ingest_pid,
            )
        loads.append(os.getloadavg()[0])
        baseline, durable = bare_figures.summary(), durable_figures.summary()
        if args.offered:
            offered = args.offered * baseline["rate"]
            open_bare, open_durable = Figures(), Figures()
            first = 200 + args.rounds * per_round
            # As many requests as the closed-loop rounds sent, in two halves
            # per endpoint, taking turns like the rounds.
            half = per_round * args.rounds // 2
            for turn in range(2):
                start = first + turn * half
                await drive_open(bare_url, secret, start, half, offered, open_bare, bare_pid)
                await drive_open(
                    url, company["secret"], start, half, offered, open_durable, ingest_pid
                )
            loads.append(os.getloadavg()[0])
    finally:
        for process in [*ingests, *bares]:
            process.kill()
        await scratch_db.drop(admin_url, name)
    print(
        f"\n{args.requests} signed job.created webhooks per endpoint, {args.concurrency} "
        f"concurrent connections, {args.rounds} rounds each, taking turns, "
        f"{args.processes} server process(es) each; "
        f"{os.cpu_count()} cores shared by client, server and PostgreSQL; "
        f"load average (1 min) {loads[0]:.1f} before, {loads[1]:.1f} after\n"
    )
    print(
        "| endpoint | accepted/s | p50 ms | p99 ms | server CPU ms per request |\n"
        "|---|---|---|---|---|"
    )
    for label, figures in (
        ("bare: verify signature only", baseline),
        ("ingest: durable acceptance", durable),
    ):
        print(
            f"| {label} | {figures['rate']:.0f} | {figures['p50_ms']:.1f} "
            f"| {figures['p99_ms']:.1f} | {figures['cpu_ms']:.3f} |"
        )
    if args.offered:
        print(
            f"\nopen loop at {args.offered:.2f} x bare's rate = {offered:.0f} requests/s offered "
            f"(load average {loads[-1]:.1f} after):\n\n"
            "| endpoint | answered/s | p50 ms | p99 ms | server CPU ms per request |\n"
            "|---|---|---|---|---|"
        )
        for label, figures in (
            ("bare: verify signature only", open_bare.summary()),
            ("ingest: durable acceptance", open_durable.summary()),
        ):
            print(
                f"| {label} | {figures['rate']:.0f} | {figures['p50_ms']:.1f} "
                f"| {figures['p99_ms']:.1f} | {figures['cpu_ms']:.3f} |"
            )
    print(
        "\nCPU per accepted request (µs), closed-loop rounds, process by process (the"
        " ingest process also runs the outbox relay; events it publishes after its"
        " phase ended are in the next bare phase's PostgreSQL and RabbitMQ figures):\n"
    )
    names = ["server", *sorted(bare_figures.others), "all"]
    print("| endpoint | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    totals = {}
    for label, phase in (("bare", bare_figures), ("ingest", durable_figures)):
        row = {"server": phase.cpu_s, **phase.others}
        row["all"] = sum(row.values())
        totals[label] = row["all"] / phase.accepted
        print(
            f"| {label} | "
            + " | ".join(f"{row[n] / phase.accepted * 1e6:,.0f}" for n in names)
            + " |"
        )
    cores = os.cpu_count() or 1
    print(
        f"\nbound on {cores} cores: bare {cores / totals['bare']:,.0f}/s, ingest"
        f" {cores / totals['ingest']:,.0f}/s; ratio of the bounds: "
        f"{totals['bare'] / totals['ingest']:.2f}"
    )
    print(f"\nlog level of ingest: {args.log_level}")
    print(f"ratio durable/bare: {durable['rate'] / baseline['rate']:.2f}")
    # The ingest process also runs the outbox relay (publishing each event);
    # PostgreSQL's and RabbitMQ's CPU are not in either figure.
    print(f"server CPU per request, bare/durable: {baseline['cpu_ms'] / durable['cpu_ms']:.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
