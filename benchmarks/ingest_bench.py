"""Ingest benchmark: signed webhooks against the real service (durable
acceptance: verify, validate, posting + outbox in one transaction) next to a
bare aiohttp endpoint that only verifies the signature, in the same run.

    .venv/bin/python -m benchmarks.ingest_bench [--requests 3000] [--concurrency 32]

Uses the test stack's PostgreSQL and RabbitMQ (started if needed) with a
database of its own, dropped afterwards. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from services.ingest.signing import new_secret, sign
from tests.helpers import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


def stack_env() -> dict[str, str]:
    env = {**os.environ, "STACK": "test"}
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


async def drive(url: str, secret: str, requests: int, concurrency: int) -> dict[str, float]:
    bodies = [json.dumps(posting(i)).encode() for i in range(requests)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(secret, msg_id, ts, body),
            }
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*[worker(http) for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    latencies.sort()
    accepted = statuses.get(202, 0)
    if accepted != requests:
        raise SystemExit(f"not every request was accepted: {statuses}")
    return {
        "rate": accepted / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    env = stack_env()
    admin_url = env["PASSAPAROLA_DATABASE_URL"]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db_url = admin_url.rsplit("/", 1)[0] + "/" + name
    port, bare_port = free_port(), free_port()
    service_env = {
        **os.environ,
        **env,
        "PASSAPAROLA_DATABASE_URL": db_url,
        "PASSAPAROLA_INGEST_PORT": str(port),
        "PASSAPAROLA_LOG_LEVEL": "warning",
        "PASSAPAROLA_BROKER_NAMESPACE": name,
        "PASSAPAROLA_DB_POOL_MAX": "20",
        "PASSAPAROLA_WEBHOOK_RATE_PER_S": "1000000",
        "PASSAPAROLA_WEBHOOK_BURST": "10000",
    }
    logs = Path("/tmp") / name
    logs.mkdir()
    ingest = ServiceProcess(["-m", "services.ingest"], service_env, port, logs / "ingest.log")
    secret = new_secret()
    bare = ServiceProcess(
        [str(ROOT / "benchmarks/bare_webhook.py"), secret, str(bare_port)],
        service_env,
        bare_port,
        logs / "bare.log",
        operator_port=bare_port,  # one port: it serves its /readyz beside the webhook
    )
    try:
        await ingest.start()
        made = subprocess.run(
            [str(ROOT / ".venv/bin/passaparola"), "company", "add", "Bench S.p.A.", "--json"],
            env=service_env,
            check=True,
            capture_output=True,
            text=True,
        )
        company = json.loads(made.stdout)
        await bare.start()
        url = f"http://127.0.0.1:{port}/v1/hooks/{company['company_id']}"
        bare_url = f"http://127.0.0.1:{bare_port}/v1/hooks/{company['company_id']}"
        await drive(bare_url, secret, 200, args.concurrency)  # warm-up
        await drive(url, company["secret"], 200, args.concurrency)
        baseline = await drive(bare_url, secret, args.requests, args.concurrency)
        durable = await drive(url, company["secret"], args.requests, args.concurrency)
    finally:
        ingest.kill()
        bare.kill()
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"\n{args.requests} signed job.created webhooks, {args.concurrency} concurrent "
        f"connections, {os.cpu_count()} cores shared by client, server and PostgreSQL\n"
    )
    print("| endpoint | accepted/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for label, figures in (
        ("bare: verify signature only", baseline),
        ("ingest: durable acceptance", durable),
    ):
        print(
            f"| {label} | {figures['rate']:.0f} | {figures['p50_ms']:.1f} "
            f"| {figures['p99_ms']:.1f} |"
        )
    print(f"\nratio durable/bare: {durable['rate'] / baseline['rate']:.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
