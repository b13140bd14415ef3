"""Numbered plain-SQL migrations, applied in order, each once, under a lock.

Each service keeps its migrations in its own ``migrations/`` folder as
``NNN_what_it_does.sql`` and owns one schema. Applied files are recorded
(with a checksum) in ``public.passaparola_migrations``; an edited file that was
already applied is an error, never silently re-run or skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from shared.db import Connection
from shared.logs import get_logger

log = get_logger(__name__)

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Any constant shared by every process that migrates: one runs, the others wait.
_LOCK_KEY = 0x7061737361  # "passa"

_LEDGER = """
CREATE TABLE IF NOT EXISTS public.passaparola_migrations (
    service text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version)
)
"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    service: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(service: str, folder: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: name must look like 001_create_things.sql")
        found.append(Migration(service, int(match[1]), match[2], path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"{service}: migrations must be numbered 001, 002, ... without gaps")
    return found


async def apply(conn: Connection, service: str, folder: Path) -> list[Migration]:
    """Apply the service's pending migrations; return those applied now."""
    pending = discover(service, folder)
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_LEDGER)
        rows = await conn.fetch(
            "SELECT version, checksum FROM public.passaparola_migrations WHERE service = $1",
            service,
        )
        done = {r["version"]: r["checksum"] for r in rows}
        for migration in pending:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{service} {migration.version:03d}_{migration.name} was changed "
                        "after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO public.passaparola_migrations (service, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    service,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info(
                "migration applied",
                service=service,
                version=migration.version,
                migration=migration.name,
            )
            applied_now.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
