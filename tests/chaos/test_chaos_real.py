"""The whole pipeline under fire, checked against the ground truth.

Ingest, matcher and notifier run as processes on the real servers; members
arrive through the member API, openings through signed webhooks at a steady
rate. Meanwhile the services are SIGKILLed and restarted every few seconds,
RabbitMQ is stopped (``stop_app``), killed (SIGKILL of its VM) and paused
(SIGSTOP), PostgreSQL is restarted, the connections to the broker, the
database and SMTP are cut and slowed (``tests/chaos/proxy.py``), and poison
messages are published among the real ones; every supervised background
task of one service is made to crash (SIGUSR1, ``shared/supervisor.py``) now
and then, and every seventh opening carries the closing date "9999-12-31"
(applicant-tracking systems' "no end date", which once stopped all mail).
At the end, once everything is quiet, the figures must add up:

- postings accepted (202) = stored at ingest = known to the matcher at the
  same revision = matched, each revision once (its event in the matcher's inbox);
- every active match of an (instant, no quiet hours, uncapped) member is one
  email in the sink; a (member, posting) twice only with the same Message-ID
  (the SMTP window of docs/reliability.md), counted apart;
- every poison message in the dead-letter queue of each queue it reached,
  and nothing else there;
- every main queue has its consumer.

``PASSAPAROLA_CHAOS_PROFILE`` picks the size: ``short`` (the default, part of
``make test``) or ``full`` (``make chaos``). The test restarts the stack's
servers, so it is collected last (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import pytest

from services.ingest import operators
from services.ingest.signing import sign
from shared import dlq
from shared.settings import Settings
from shared.topology import SERVICE_QUEUES, QueueSpec, Topology
from tests.conftest import TEST_STACK, _delete_namespace
from tests.helpers import LOCAL, ROOT, ServiceProcess, free_port

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.chaos]

MAILDIR = ROOT / "var" / TEST_STACK / "mail"


def _server_var() -> Path:
    """Where the stack's servers keep their data: var/<stack>, or a folder
    under /var/tmp for a checkout the server users cannot enter (env.sh)."""
    out = subprocess.run(
        ["bash", "-c", 'source "$0/env.sh"; printf %s "$SERVER_VAR"', str(LOCAL)],
        env={**os.environ, "STACK": TEST_STACK},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout)


RMQ_PID_FILE = _server_var() / "rabbitmq" / "rabbitmq.pid"
MESSAGE_ID_DOMAIN = "@passaparola.local>"


@dataclass(frozen=True)
class Profile:
    members: int
    postings: int
    rate_per_s: float  # postings sent per second, steadily
    update_every: int  # every n-th posting is updated once (a second revision)
    kill_every_s: float  # one of the three services SIGKILLed this often
    fault_gap_s: float  # pause between two infrastructure faults
    poison_per_batch: int
    quiet_timeout_s: float


PROFILES = {
    "short": Profile(
        members=300,
        postings=360,
        rate_per_s=6.0,
        update_every=10,
        kill_every_s=3.0,
        fault_gap_s=3.0,
        poison_per_batch=4,
        quiet_timeout_s=240,
    ),
    "full": Profile(
        members=2000,
        postings=2400,
        rate_per_s=4.0,
        update_every=8,
        kill_every_s=3.0,
        fault_gap_s=4.0,
        poison_per_batch=8,
        quiet_timeout_s=600,
    ),
}
PROFILE_NAME = os.environ.get("PASSAPAROLA_CHAOS_PROFILE", "short")

# Infrastructure faults, in turn; the first round always completes.
FAULTS = (
    "rabbitmq_stop_app",
    "database_cut",
    "poison",
    "rabbitmq_pause",
    "task_crash",
    "broker_slow",
    "postgres_restart",
    "smtp_cut",
    "broker_cut",
    "poison",
    "task_crash",
    "database_slow",
    "rabbitmq_kill",
    "smtp_slow",
)

MEMBERS_PER_CITY = 5
FITTING_TITLES = (
    "Executive Assistant",
    "Assistente di Direzione",
    "Segretaria di Direzione",
    "Personal Assistant to the CEO",
)
OTHER_TITLES = ("Executive Producer", "Data Engineer")
MEMBER_ROLES = (
    ["Executive Assistant"],
    ["Assistente di direzione"],
    ["Executive Assistant", "Office Manager"],
)


# --- what the test sends -------------------------------------------------------------------------


def city(k: int) -> str:
    return f"Borgo Chaos {k:04d}"


def member_profile(i: int, domain: str, employer: str | None) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "consent": {"opted_in": True, "at": "2026-10-15T09:30:00+02:00", "text_version": "2026-10"},
        "language": ("it", "en", "sv")[i % 3],
        "timezone": "Europe/Rome",
        "email": f"m{i}@{domain}",
        "name": f"Chaos Member {i}",
        "desired_roles": MEMBER_ROLES[i % len(MEMBER_ROLES)],
        "languages": ["it", "en"],
        "locations": {"cities": [city(i // MEMBERS_PER_CITY)], "country": "IT"},
        "remote": "hybrid",
        "seniority": "senior",
        "skills": ["SAP Concur"],
        # Instant, no quiet hours: every match is due at once.
        "notifications": {"frequency": "instant"},
    }
    if employer is not None:
        profile["current_employer"] = employer
    return profile


def posting_data(j: int, cities: int, revision_note: str = "") -> dict[str, Any]:
    titles = FITTING_TITLES if j % 3 else OTHER_TITLES
    return {
        "external_id": f"chaos-{j:05d}",
        "title": titles[j % len(titles)],
        "description": f"Opening {j} in a chaos run.{revision_note}",
        "location": {"city": city(j % cities), "country": "IT"},
        "remote": "hybrid",
        "languages_required": ["it"],
        "skills": ["SAP Concur"],
        "seniority": "senior",
        # An edge date now and then: it must flow like any other.
        "valid_through": "9999-12-31" if j % 7 == 0 else "2099-12-31",
        "how_to_apply": {"url": f"https://careers.example.it/chaos-{j}"},
    }


# --- the stack under test ------------------------------------------------------------------------


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{port}"))


def run_script(script: str, *args: str) -> None:
    """A stack script; retried a few times (``rabbitmqctl`` can fail to reach a
    node that has just restarted), then a failure with what it said."""
    for attempt in range(5):
        done = subprocess.run(
            [str(LOCAL / script), *args],
            env={**os.environ, "STACK": TEST_STACK},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode == 0:
            return
        if attempt < 4:
            time.sleep(2)
    raise AssertionError(f"{script} {' '.join(args)}: {done.returncode} {done.stderr[-1500:]}")


def beam_pid() -> int:
    pid = int(RMQ_PID_FILE.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert b"beam" in cmdline, "the pid file does not name RabbitMQ's VM"
    return pid


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    accepted: dict[str, int] = field(default_factory=dict)  # external id -> newest revision
    posting_ids: dict[str, str] = field(default_factory=dict)  # external id -> posting id
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    poison: dict[str, str] = field(default_factory=dict)  # message id -> routing key
    load_done: bool = False


class Chaos:
    def __init__(
        self,
        profile: Profile,
        stack_env: dict[str, str],
        database_url: str,
        namespace: str,
        logs: Path,
    ) -> None:
        self.profile = profile
        self.stack_env = stack_env
        self.database_url = database_url
        self.namespace = namespace
        self.logs = logs
        self.settings = Settings.from_env({**stack_env, "PASSAPAROLA_DATABASE_URL": database_url})
        self.topology = Topology(namespace=namespace)
        from tests.chaos.proxy import Proxy

        db_port = urlsplit(database_url).port
        amqp_port = urlsplit(self.settings.amqp_url).port
        assert db_port is not None and amqp_port is not None
        self.proxies = {
            "database": Proxy("database", db_port),
            "broker": Proxy("broker", amqp_port),
            "smtp": Proxy("smtp", self.settings.smtp_port),
        }
        self.services: dict[str, ServiceProcess] = {}
        self.tally = Tally()
        self.domain = f"chaos-{uuid.uuid4().hex[:8]}.test"
        self.member_ids: dict[str, str] = {}  # address -> member id
        self.companies: list[tuple[str, str]] = []  # (company id, secret)
        self.random = random.Random(8)

    async def start(self) -> None:
        for proxy in self.proxies.values():
            await proxy.start()
        env = {
            **os.environ,
            **self.stack_env,
            "PASSAPAROLA_DATABASE_URL": with_port(self.database_url, self.proxies["database"].port),
            "PASSAPAROLA_AMQP_URL": with_port(self.settings.amqp_url, self.proxies["broker"].port),
            "PASSAPAROLA_SMTP_PORT": str(self.proxies["smtp"].port),
            "PASSAPAROLA_BROKER_NAMESPACE": self.namespace,
            "PASSAPAROLA_LOG_FORMAT": "json",
            "PASSAPAROLA_RETRY_DELAYS_MS": "500,2000,5000",
            "PASSAPAROLA_SHUTDOWN_GRACE_S": "5",
            "PASSAPAROLA_WEBHOOK_RATE_PER_S": "1000",
            "PASSAPAROLA_WEBHOOK_BURST": "1000",
            "PASSAPAROLA_NOTIFIER_WEEKLY_CAP": "1000",
            # SMTP cuts last seconds: retry soon, and long enough to outlast several.
            "PASSAPAROLA_DELIVERY_RETRY_DELAYS_MS": (
                "1000,2000,3000,5000,5000,10000,10000,10000,20000"
            ),
            # A killed notifier's claimed emails are due again soon after its
            # restart; an attempt slowed by the proxy is cut off only after 10 s.
            "PASSAPAROLA_DELIVERY_LEASE_S": "20",
        }
        for name in ("ingest", "matcher", "notifier"):
            port = free_port()
            service_env = {**env, f"PASSAPAROLA_{name.upper()}_PORT": str(port)}
            self.services[name] = ServiceProcess(
                ["-m", f"services.{name}"], service_env, port, self.logs / f"{name}.log"
            )
        await asyncio.gather(*(s.start() for s in self.services.values()))

    async def stop(self) -> None:
        for process in self.services.values():
            process.kill()
        for proxy in self.proxies.values():
            await proxy.close()

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.services['ingest'].port}"

    # --- load -----------------------------------------------------------------------------------

    async def onboard(self) -> str:
        pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            for k in range(5):
                made = await operators.add_company(
                    pool, self.settings, f"Chaos Industries {k} S.p.A.", [], None
                )
                self.companies.append((str(made["company_id"]), str(made["secret"])))
            token = (await operators.add_token(pool, "chaos platform"))["token"]
        finally:
            await pool.close()
        return token

    async def load_members(self, http: aiohttp.ClientSession, token: str) -> None:
        gate = asyncio.Semaphore(16)

        async def put(i: int) -> None:
            # Every 7th member works for the first company: never matched with it.
            employer = "CHAOS INDUSTRIES 0 SPA" if i % 7 == 0 else None
            profile = member_profile(i, self.domain, employer)
            async with gate:
                answer = await self.request(
                    http,
                    "PUT",
                    f"/v1/members/chaos-{i}",
                    lambda: (
                        json.dumps(profile).encode(),
                        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    ),
                    ok=(200, 201),
                    what="member",
                )
            if answer is not None:
                self.member_ids[profile["email"]] = answer["member_id"]

        await asyncio.gather(*(put(i) for i in range(self.profile.members)))

    async def request(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        make: Callable[[], tuple[bytes, dict[str, str]]],
        *,
        ok: tuple[int, ...],
        what: str,
    ) -> dict[str, Any] | None:
        """Send until a final answer, as a well-behaved client does: a
        connection error, 429 or 503 is retried (the same webhook-id, signed
        again with the current time)."""
        pause = 0.2
        while True:
            body, headers = make()
            try:
                async with http.request(
                    method,
                    self.ingest_url + path,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    status = response.status
                    answer = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, OSError, json.JSONDecodeError) as exc:
                self.tally.retries[f"{what}: {type(exc).__name__}"] += 1
            else:
                if status in ok:
                    return answer if isinstance(answer, dict) else {}
                if status not in (429, 503):
                    self.tally.refused.append(f"{what} {path}: {status} {answer}")
                    if status < 500:
                        return None
                self.tally.retries[f"{what}: {status}"] += 1
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 2.0)

    async def send_posting(
        self, http: aiohttp.ClientSession, j: int, event_type: str, data: dict[str, Any]
    ) -> None:
        company_id, secret = self.companies[j % len(self.companies)]
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps({"type": event_type, "data": data}).encode()

        def make() -> tuple[bytes, dict[str, str]]:
            ts = int(time.time())
            return body, {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(secret, msg_id, ts, body),
            }

        answer = await self.request(
            http, "POST", f"/v1/hooks/{company_id}", make, ok=(202,), what="webhook"
        )
        if answer is None:
            return
        external = data["external_id"]
        self.tally.outcomes[str(answer.get("outcome"))] += 1
        self.tally.posting_ids[external] = str(answer["posting_id"])
        self.tally.accepted[external] = max(
            self.tally.accepted.get(external, 0), int(answer["revision"])
        )

    async def load_postings(self, http: aiohttp.ClientSession) -> None:
        cities = max(1, self.profile.members // MEMBERS_PER_CITY)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks: list[asyncio.Task[None]] = []

        async def one(j: int) -> None:
            await self.send_posting(http, j, "job.created", posting_data(j, cities))
            if j % self.profile.update_every == 0:
                await asyncio.sleep(2)
                await self.send_posting(http, j, "job.updated", posting_data(j, cities, " Rev 2."))

        for j in range(self.profile.postings):
            await asyncio.sleep(max(0.0, t0 + j / self.profile.rate_per_s - loop.time()))
            tasks.append(asyncio.create_task(one(j)))
        await asyncio.gather(*tasks)
        self.tally.load_done = True

    # --- faults ---------------------------------------------------------------------------------

    async def killer(self) -> None:
        """SIGKILL one service after another, restart it at once."""
        for name in itertools.cycle(("matcher", "notifier", "ingest")):
            if self.tally.load_done:
                return
            await asyncio.sleep(self.profile.kill_every_s * (0.5 + self.random.random()))
            process = self.services[name]
            process.signal(signal.SIGKILL)
            await process.wait()
            self.tally.kills[name] += 1
            await self.restart(process)

    async def restart(self, process: ServiceProcess) -> None:
        # Start-up waits for the database and the broker, which may be away.
        for _ in range(3):
            try:
                await process.start()
                return
            except AssertionError:
                process.kill()
        raise AssertionError(f"{process.args} did not come back")

    async def faults(self) -> None:
        for round_ in itertools.count():
            for fault in FAULTS:
                if self.tally.load_done and round_ > 0:
                    return
                await asyncio.sleep(self.profile.fault_gap_s)
                await getattr(self, fault)()
                self.tally.faults[fault] += 1

    async def task_crash(self) -> None:
        """Every supervised task of one service crashes once (SIGUSR1) and is
        restarted by its supervisor; the process itself lives on."""
        process = self.services[self.random.choice(("ingest", "matcher", "notifier"))]
        # Only a process that is ready has its handler: before, SIGUSR1 would
        # end it (the default action), which is the killer's fault, not this one.
        with contextlib.suppress(AssertionError):
            if process.proc is not None and await process.is_ready():
                process.signal(signal.SIGUSR1)

    async def rabbitmq_stop_app(self) -> None:
        await asyncio.to_thread(run_script, "rabbitmq.sh", "ctl", "stop_app")
        await asyncio.sleep(3)
        await asyncio.to_thread(run_script, "rabbitmq.sh", "ctl", "start_app")

    async def rabbitmq_kill(self) -> None:
        os.kill(beam_pid(), signal.SIGKILL)
        await asyncio.sleep(1)
        await asyncio.to_thread(run_script, "rabbitmq.sh", "start")

    async def rabbitmq_pause(self) -> None:
        pid = beam_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(4)
        finally:
            os.kill(pid, signal.SIGCONT)

    async def postgres_restart(self) -> None:
        await asyncio.to_thread(run_script, "postgres.sh", "stop")
        await asyncio.sleep(1)
        await asyncio.to_thread(run_script, "postgres.sh", "start")

    async def database_cut(self) -> None:
        self.proxies["database"].cut(3)
        await asyncio.sleep(3)

    async def broker_cut(self) -> None:
        self.proxies["broker"].cut(3)
        await asyncio.sleep(3)

    async def smtp_cut(self) -> None:
        self.proxies["smtp"].cut(4)
        await asyncio.sleep(4)

    async def database_slow(self) -> None:
        await self.proxies["database"].slow(0.05, 5)

    async def broker_slow(self) -> None:
        await self.proxies["broker"].slow(0.05, 5)

    async def smtp_slow(self) -> None:
        await self.proxies["smtp"].slow(0.2, 5)

    async def poison(self) -> None:
        """Messages no consumer can ever handle, among the real ones: bytes
        that are not JSON, CloudEvents whose data break the contract, an
        unknown specversion; on every queue."""
        kinds: list[tuple[str, bytes]] = [
            ("job.created", b"\xff\xfe not json at all"),
            ("job.updated", b'{"specversion":"1.0","id":"x","source":"/chaos"'),
            ("member.changed", json.dumps({"hello": "world"}).encode()),
            ("referral.requested", b"[]"),
            ("match.found", b"null"),
        ]
        for n in range(self.profile.poison_per_batch):
            key, body = kinds[n % len(kinds)]
            if n % 2:
                event = {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "/chaos",
                    "type": key,
                    "time": "2026-11-23T08:00:00Z",
                    "data": {"posting_id": 7, "unexpected": ["field"]},
                }
                body = json.dumps(event).encode()
            message_id = f"poison-{uuid.uuid4().hex[:12]}"
            await self.publish_direct(key, body, message_id)
            self.tally.poison[message_id] = key

    async def publish_direct(self, key: str, body: bytes, message_id: str) -> None:
        while True:
            try:
                connection = await aio_pika.connect(self.settings.amqp_url, timeout=5)
                async with connection:
                    channel = await connection.channel()
                    exchange = await channel.get_exchange(self.topology.exchange, ensure=False)
                    await exchange.publish(
                        aio_pika.Message(
                            body,
                            message_id=message_id,
                            type=key,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=key,
                        timeout=10,
                    )
                    return
            except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
                await asyncio.sleep(1)

    # --- quiet and the ground truth -------------------------------------------------------------

    async def management(self, path: str) -> Any:
        parts = urlsplit(self.settings.amqp_url)
        vhost = quote(parts.path.lstrip("/") or "/", safe="")
        auth = {
            "Authorization": aiohttp.encode_basic_auth(parts.username or "", parts.password or "")
        }
        url = f"{self.settings.rabbitmq_management_url.rstrip('/')}/api/{path.format(vhost=vhost)}"
        async with (
            aiohttp.ClientSession(headers=auth) as http,
            http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response,
        ):
            response.raise_for_status()
            return await response.json()

    async def queues(self) -> dict[str, dict[str, Any]]:
        found = await self.management("queues/{vhost}?columns=name,messages,consumers")
        return {q["name"]: q for q in found if q["name"].startswith(self.namespace + ".")}

    async def busy(self, db: asyncpg.Connection) -> list[str]:
        """What is still moving, if anything."""
        waiting: list[str] = []
        for schema in ("ingest", "matcher", "notifier"):
            n = await db.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"  # noqa: S608
            )
            if n:
                waiting.append(f"{schema} outbox {n}")
        n = await db.fetchval(
            "SELECT count(*) FROM notifier.notifications WHERE state IN ('pending', 'sending')"
        )
        if n:
            waiting.append(f"notifications {n}")
        n = await db.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sending'")
        if n:
            waiting.append(f"emails {n}")
        for name, queue in (await self.queues()).items():
            if not name.endswith(".dlq") and queue.get("messages"):
                waiting.append(f"{name} {queue['messages']}")
        return waiting

    async def wait_quiet(self) -> float:
        started = time.monotonic()
        deadline = started + self.profile.quiet_timeout_s
        calm = 0
        last: list[str] = []
        while calm < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"never quiet; still moving: {last}")
            await asyncio.sleep(2)
            try:
                db = await asyncpg.connect(self.database_url)
                try:
                    last = await self.busy(db)
                finally:
                    await db.close()
            except (OSError, asyncpg.PostgresError, aiohttp.ClientError) as exc:
                last = [type(exc).__name__]
            calm = calm + 1 if not last else 0
        return time.monotonic() - started


def read_sink(domain: str, before: set[str]) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of each mail for ``domain`` the sink kept."""
    found: list[tuple[str, str]] = []
    for path in sorted(MAILDIR.glob("*.eml")):
        if path.name in before:
            continue
        head = path.read_bytes().partition(b"\r\n\r\n")[0]
        message = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)
        rcpt = str(message.get("X-Sink-Rcpt-To", ""))
        if rcpt.endswith("@" + domain):
            found.append((rcpt, str(message.get("Message-ID", ""))))
    return found


def bound(spec: QueueSpec, key: str) -> bool:
    return any(
        key == b or (b.endswith(".#") and key.startswith(b[:-1])) or b == "#" for b in spec.bindings
    )


async def settle(what: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):
        await what


# --- the test ------------------------------------------------------------------------------------


async def test_the_pipeline_keeps_its_promises_under_chaos(
    stack_env, database_url, namespace, tmp_path, capsys
):
    profile = PROFILES[PROFILE_NAME]
    chaos = Chaos(profile, stack_env, database_url, namespace, tmp_path)
    MAILDIR.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in MAILDIR.glob("*.eml")}
    began = time.monotonic()
    try:
        await chaos.start()
        token = await chaos.onboard()
        async with aiohttp.ClientSession() as http:
            t = time.monotonic()
            await chaos.load_members(http, token)
            members_s = time.monotonic() - t
            t = time.monotonic()
            async with asyncio.TaskGroup() as group:  # a failure stops the others
                for job in (chaos.load_postings(http), chaos.killer(), chaos.faults()):
                    group.create_task(job)
            chaos_s = time.monotonic() - t
        # Every service up at the end (a kill may have been the last thing).
        for process in chaos.services.values():
            if process.proc is None or process.proc.poll() is not None:
                await chaos.restart(process)
        quiet_s = await chaos.wait_quiet()
        figures, failures = await ground_truth(chaos, before)
    finally:
        await chaos.stop()
        await settle(asyncio.to_thread(run_script, "rabbitmq.sh", "start"))
        await settle(asyncio.to_thread(run_script, "postgres.sh", "start"))
        # Its queues go too: hundreds of leftover quorum queues slow a broker.
        await settle(_delete_namespace(chaos.settings, namespace))
    tally = chaos.tally
    lines = [
        f"chaos profile {PROFILE_NAME}: {profile.members} members, {profile.postings} postings "
        f"at {profile.rate_per_s:g}/s, every {profile.update_every}th updated",
        f"  members loaded through the API in {members_s:.1f} s; chaos phase {chaos_s:.0f} s; "
        f"quiet after {quiet_s:.0f} s more; total {time.monotonic() - began:.0f} s",
        f"  SIGKILLs: {dict(tally.kills)}",
        f"  faults: {dict(tally.faults)}",
        "  proxy: "
        + ", ".join(f"{p.name} {p.cuts} cut(s) {p.slowdowns} slow" for p in chaos.proxies.values()),
        f"  client retries: {dict(tally.retries)}",
        f"  webhook outcomes: {dict(tally.outcomes)}",
        *(f"  {k}: {v}" for k, v in figures.items()),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
        for failure in failures:
            print("  FAILURE: " + failure)
    assert not tally.refused, tally.refused[:10]
    assert not failures, failures


async def ground_truth(chaos: Chaos, before: set[str]) -> tuple[dict[str, Any], list[str]]:
    t = chaos.tally
    failures: list[str] = []
    figures: dict[str, Any] = {}
    db = await asyncpg.connect(chaos.database_url)
    try:
        ingest = {
            r["id"]: r["revision"]
            for r in await db.fetch("SELECT id::text, revision FROM ingest.postings")
        }
        matcher = {
            r["posting_id"]: r["revision"]
            for r in await db.fetch("SELECT posting_id, revision FROM matcher.postings")
        }
        job_events = {
            r["event_id"]
            for r in await db.fetch(
                "SELECT event_id::text FROM ingest.outbox WHERE routing_key LIKE 'job.%'"
            )
        }
        matched_events = {
            r["event_id"]
            for r in await db.fetch(
                "SELECT event_id::text FROM matcher.inbox WHERE event_type LIKE 'job.%'"
            )
        }
        active = {
            (r["member_id"], r["posting_id"])
            for r in await db.fetch(
                "SELECT member_id, posting_id FROM matcher.matches WHERE state = 'active'"
            )
        }
        withdrawn = {
            (r["member_id"], r["posting_id"])
            for r in await db.fetch(
                "SELECT member_id, posting_id FROM matcher.matches WHERE state = 'withdrawn'"
            )
        }
        email_pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for r in await db.fetch(
            "SELECT email_id::text, member_id, posting_id FROM notifier.notifications"
            " WHERE email_id IS NOT NULL"
        ):
            email_pairs[r["email_id"]].add((r["member_id"], r["posting_id"]))
        states = Counter(r["state"] for r in await db.fetch("SELECT state FROM notifier.emails"))
        revisions = sum(ingest.values())
    finally:
        await db.close()

    accepted = {t.posting_ids[e]: rev for e, rev in t.accepted.items()}
    figures["postings accepted (202)"] = len(accepted)
    figures["postings stored at ingest"] = len(ingest)
    figures["postings known to the matcher"] = len(matcher)
    figures["revisions stored / job events matched"] = f"{revisions} / {len(matched_events)}"
    if accepted != ingest:
        failures.append("accepted postings (with their revisions) differ from ingest's")
    if matcher != ingest:
        lost = sorted(set(ingest) - set(matcher))[:5]
        failures.append(f"the matcher's postings differ from ingest's (missing e.g. {lost})")
    if job_events != matched_events or len(job_events) != revisions:
        failures.append(
            f"job events: {len(job_events)} published, {len(matched_events)} matched, "
            f"{revisions} revisions"
        )

    mails = read_sink(chaos.domain, before)
    by_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
    wrong_rcpt = 0
    for rcpt, message_id in mails:
        email_id = message_id.strip("<>").removesuffix(MESSAGE_ID_DOMAIN.strip("<>"))
        email_id = email_id.split("@", 1)[0]
        pairs = email_pairs.get(email_id, set())
        if not pairs:
            failures.append(f"a mail whose Message-ID {message_id} no email row has")
        for pair in pairs:
            if chaos.member_ids.get(rcpt) != pair[0]:
                wrong_rcpt += 1
            by_pair[pair].append(message_id)
    delivered = set(by_pair)
    missing = active - delivered
    unexpected = delivered - active - withdrawn
    late = delivered & withdrawn  # told, then withdrawn (an update): not a loss
    window = {p: ids for p, ids in by_pair.items() if len(ids) > 1 and len(set(ids)) == 1}
    twice = {p: ids for p, ids in by_pair.items() if len(set(ids)) > 1}
    figures["active matches (emails expected)"] = len(active)
    figures["mails in the sink"] = len(mails)
    figures["(member, posting) delivered"] = len(delivered)
    figures["emails by state"] = dict(states)
    figures["duplicates inside the SMTP window (same Message-ID)"] = len(window)
    figures["withdrawn after being told"] = len(late)
    if missing:
        failures.append(
            f"{len(missing)} expected email(s) never arrived, e.g. {sorted(missing)[:3]}"
        )
    if unexpected:
        failures.append(
            f"{len(unexpected)} email(s) without a match, e.g. {sorted(unexpected)[:3]}"
        )
    if twice:
        failures.append(f"{len(twice)} (member, posting) sent twice with different Message-IDs")
    if wrong_rcpt:
        failures.append(f"{wrong_rcpt} mail(s) went to another member's address")

    connection = await aio_pika.connect(chaos.settings.amqp_url)
    dead: dict[str, set[str]] = {}
    reasons: Counter[str] = Counter()
    try:
        for spec in SERVICE_QUEUES:
            letters = await dlq.peek(connection, chaos.topology.dead_letter_queue(spec), 10_000)
            dead[spec.name] = {str(d.message_id) for d in letters}
            for letter in letters:
                if letter.message_id not in t.poison:
                    reasons[f"{spec.name}: {letter.event_type}: {letter.reason[:120]}"] += 1
    finally:
        await connection.close()
    expected_dead = sum(
        1 for key in t.poison.values() for spec in SERVICE_QUEUES if bound(spec, key)
    )
    found_dead = 0
    for message_id, key in t.poison.items():
        for spec in SERVICE_QUEUES:
            if bound(spec, key):
                if message_id in dead[spec.name]:
                    found_dead += 1
                else:
                    failures.append(f"poison {message_id} ({key}) not in {spec.name}'s DLQ")
    figures["poison messages published"] = len(t.poison)
    figures["... dead-lettered where expected"] = f"{found_dead} of {expected_dead}"
    if reasons:
        failures.append(f"real messages dead-lettered: {dict(reasons)}")

    queues = await chaos.queues()
    consumers = {
        spec.name: queues.get(chaos.topology.queue(spec), {}).get("consumers", 0)
        for spec in SERVICE_QUEUES
    }
    figures["consumers on the main queues"] = consumers
    for name, n in consumers.items():
        if not n:
            failures.append(f"no consumer on {name}'s queue")
    return figures, failures
