"""A database of a benchmark's own on the stack's PostgreSQL server, dropped
at the end: the benches never write into a database someone else uses."""

from __future__ import annotations

import uuid

import asyncpg


async def create(server_url: str, prefix: str) -> tuple[str, str]:
    """A new empty database ``<prefix>_<random>`` beside the one ``server_url``
    names: its name and its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = server_url.rpartition("/")
    return name, f"{base}/{name}"


async def drop(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
