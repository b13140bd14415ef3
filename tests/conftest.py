"""Fixtures for tests against the real servers of the test stack.

``make test`` starts PostgreSQL, RabbitMQ and the SMTP sink (``STACK=test``)
before pytest and stops them after; run alone, pytest starts them itself
through the same script and leaves them up for the next run. Nothing here
uses a server that the project's scripts did not start.

Isolation: each test gets its own database, copied from a template that has
every migration applied (fast, and real commits work: other processes and
LISTEN/NOTIFY see them), and its own broker namespace (exchange and queues
prefixed with a fresh name, deleted afterwards).
"""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika
import aiohttp
import asyncpg
import pytest
import structlog
from aio_pika.abc import AbstractRobustConnection

from shared import migrations, quarantine
from shared.db import Pool, create_pool
from shared.settings import Settings
from shared.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack.sh"
# A spare stack (dev1..dev4) lets a second test run go beside the first.
TEST_STACK = os.environ.get("TEST_STACK", "test")
SERVICE_MIGRATIONS = {
    name: ROOT / "services" / name / "migrations" for name in ("ingest", "matcher", "notifier")
}
PROBE_MIGRATIONS = ROOT / "tests" / "fixtures" / "probe_migrations"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chaos suite restarts the stack's servers under everyone's feet:
    it runs last, after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)


def _stack_env() -> dict[str, str]:
    env = {**os.environ, "STACK": TEST_STACK}
    if os.environ.get("PASSAPAROLA_TEST_SERVERS") != "up":
        # make test already started them; otherwise start (idempotent).
        subprocess.run([str(STACK), "servers"], check=True, env=env)
    out = subprocess.run([str(STACK), "env"], check=True, env=env, capture_output=True, text=True)
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        values[key] = value
    return values


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """Logging is process-wide: a test that configures it (a CLI run in the
    test's process sets ``warning``) leaves it as it found it, so that a
    later test's ``structlog.testing.capture_logs`` still sees info events
    (our loggers filter by level before any processor runs)."""
    config = structlog.get_config()
    saved = {**config, "processors": list(config["processors"])}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    return _stack_env()


@pytest.fixture(scope="session")
async def template_db(stack_env: dict[str, str]) -> str:
    """A database with every migration applied, to copy for each test."""
    name = f"tmpl_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack_env["PASSAPAROLA_DATABASE_URL"])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(_with_db(stack_env["PASSAPAROLA_DATABASE_URL"], name))
    try:
        await migrations.apply(conn, quarantine.SERVICE, quarantine.MIGRATIONS)
        for service, folder in SERVICE_MIGRATIONS.items():
            await migrations.apply(conn, service, folder)
        await migrations.apply(conn, "probe", PROBE_MIGRATIONS)
    finally:
        await conn.close()
    return name


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def database_url(stack_env: dict[str, str], template_db: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = stack_env["PASSAPAROLA_DATABASE_URL"]
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    yield _with_db(admin_url, name)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(stack_env: dict[str, str], database_url: str, namespace: str) -> Settings:
    env = {
        **stack_env,
        "PASSAPAROLA_DATABASE_URL": database_url,
        "PASSAPAROLA_RETRY_DELAYS_MS": "150,300",
        "PASSAPAROLA_DELIVERY_LIMIT": "3",
        "PASSAPAROLA_SHUTDOWN_GRACE_S": "10",
        "PASSAPAROLA_BROKER_NAMESPACE": namespace,
    }
    return Settings.from_env(env)


@pytest.fixture
def topology(settings: Settings, namespace: str) -> Topology:
    return Topology(
        namespace=namespace,
        delivery_limit=settings.delivery_limit,
        retry_delays_ms=settings.retry_delays_ms,
    )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    pool = await create_pool(settings, name="test")
    yield pool
    await pool.close()


@pytest.fixture
async def amqp(
    settings: Settings, request: pytest.FixtureRequest, namespace: str
) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(
        settings.amqp_url, client_properties={"connection_name": request.node.name}
    )
    yield connection
    await _delete_namespace(settings, namespace)
    await connection.close()


async def _delete_namespace(settings: Settings, namespace: str) -> None:
    """Delete what a test declared (its queues and exchanges), whatever state
    its own connection was left in."""
    parts = urlsplit(settings.amqp_url)
    vhost = quote(parts.path.lstrip("/") or "/", safe="")
    auth = {"Authorization": aiohttp.encode_basic_auth(parts.username or "", parts.password or "")}
    api = settings.rabbitmq_management_url.rstrip("/") + "/api"
    async with aiohttp.ClientSession(headers=auth) as http:
        for kind in ("queues", "exchanges"):
            async with http.get(f"{api}/{kind}/{vhost}", params={"columns": "name"}) as resp:
                names = [item["name"] for item in await resp.json()]
            for name in names:
                if name.startswith(f"{namespace}."):
                    async with http.delete(f"{api}/{kind}/{vhost}/{quote(name, safe='')}"):
                        pass


@pytest.fixture
def service_env(settings: Settings, namespace: str, stack_env: dict[str, str]) -> dict[str, str]:
    """Environment for a service process started by a test."""
    return {
        **os.environ,
        **stack_env,
        "PASSAPAROLA_DATABASE_URL": settings.database_url,
        "PASSAPAROLA_RETRY_DELAYS_MS": "150,300",
        "PASSAPAROLA_DELIVERY_LIMIT": "3",
        "PASSAPAROLA_LOG_FORMAT": "json",
        "PASSAPAROLA_BROKER_NAMESPACE": namespace,
    }
