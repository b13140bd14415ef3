"""`passaparola migrate` on an empty database, twice, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.real

BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "passaparola")


@pytest.fixture
async def empty_database(stack_env):
    admin_url = stack_env["PASSAPAROLA_DATABASE_URL"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def test_migrate_applies_every_services_migrations_once(stack_env, empty_database):
    env = {**os.environ, **stack_env, "PASSAPAROLA_DATABASE_URL": empty_database}
    first = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    applied = dict(line.split(": ", 1) for line in first.stdout.splitlines())
    assert set(applied) == {"shared", "ingest", "matcher", "notifier", "console"}
    assert applied["shared"] == "001_quarantine"
    assert applied["ingest"].startswith("001_schema, 002_")
    again = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert again.stdout.splitlines() == [f"{name}: up to date" for name in applied]


def test_migrate_without_a_reachable_database_is_a_named_error(stack_env):
    env = {
        **os.environ,
        **stack_env,
        "PASSAPAROLA_DATABASE_URL": "postgresql://nobody:x@127.0.0.1:9/none",
    }
    result = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 69
    assert result.stderr.startswith("passaparola: DatabaseUnavailable: ")
