"""The audit log: every operator action that reveals member data leaves a row.

One function for every service: ``record`` writes to ``<schema>.audit_log`` of
the acting service, in the caller's transaction when given a connection inside
one, so the action and its trace commit together. A row names who acted (an
operator's login or a token's label), what they did (``member.export``,
``match.explain``, ``console.view``, ...), and on whom, by pseudonymous id
only: the audit log never holds the data it audits.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from typing import Any

from shared.db import Connection

ACTIONS = frozenset(
    {
        "member.export",
        "member.erase",
        "match.explain",
        "referral.list",
        "referral.retry",
        "keys.rotate",
        "console.view",
    }
)


def operator() -> str:
    """Who runs this command: the login name at the terminal (or $USER)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:{os.environ.get('USER', 'unknown')}"


async def record(
    conn: Connection,
    schema: str,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one row to ``schema.audit_log`` (a schema name from the code)."""
    if not schema.isidentifier():
        raise ValueError(f"not a schema name: {schema!r}")
    await conn.execute(
        f"INSERT INTO {schema}.audit_log (actor, action, subject, details)"  # noqa: S608 - schema is ours
        " VALUES ($1, $2, $3, $4::jsonb)",
        actor[:200],
        action,
        subject,
        # A plain object for the pool's jsonb codec (a JSON text would be
        # stored as one string); round-tripped so dates and ids become text.
        json.loads(json.dumps(dict(details or {}), default=str)),
    )
