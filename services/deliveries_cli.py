"""Operator commands for everything that leaves the system:
``passaparola deliveries list`` and ``passaparola deliveries retry KIND ID``.

Beside ``services/cli.py`` (the composition root), like ``privacy_cli``: the
deliveries live in two services' tables (the notifier's emails and forwards,
ingest's referrals), each service naming its own table (``table`` on its
delivery adapter), and ``shared/delivery.py`` holds the one way to list and
retry them. Only ids, states, counts and reasons are shown: never an address
or a name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

from services.ingest.referrals import Deliverer
from services.notifier import queries as notifier_queries
from services.notifier.confirmations import ConfirmationSender
from services.notifier.consent import ForwardSender
from services.notifier.sender import Dispatcher
from shared import audit, delivery
from shared.commands import EXIT_DATA, EXIT_USAGE, CliError, with_pool
from shared.db import Pool, transaction
from shared.service import load_settings

TABLES: dict[str, delivery.Table] = {
    t.kind: t
    for t in (Dispatcher.table, ForwardSender.table, Deliverer.table, ConfirmationSender.table)
}


def _schema(table: delivery.Table) -> str:
    return table.name.partition(".")[0]


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    kinds = [args.kind] if args.kind else list(TABLES)

    async def work(pool: Pool) -> int:
        rows: list[dict[str, Any]] = []
        async with pool.acquire() as conn:
            for kind in kinds:
                rows += await delivery.listing(
                    conn, TABLES[kind], settings.delivery_stuck_after_s, args.limit
                )
        if args.json:
            print(json.dumps(rows, default=str))
            return 0
        if not rows:
            print("no failed or stuck deliveries")
        for row in rows:
            since = row["failing_since"]
            when = since.isoformat(timespec="seconds") if isinstance(since, datetime) else "-"
            print(
                f"{row['kind']:8} {row['id']}  {row['state']:6}  {row['attempts']:3} attempt(s)"
                f"  since {when}  {row['reason'] or ''}"
            )
        return 0

    return asyncio.run(with_pool(settings, work))


def _retry(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not args.kind or not args.id:
        raise CliError("MissingId", "deliveries retry needs a kind and an id", EXIT_USAGE)
    try:
        key = uuid.UUID(args.id)
    except ValueError:
        raise CliError("BadId", f"ID must be a UUID, got {args.id!r}", EXIT_USAGE) from None
    table = TABLES[args.kind]

    async def work(pool: Pool) -> int:
        async with transaction(pool) as conn:
            if not await delivery.retry(conn, table, key):
                raise CliError(
                    "NotFailed",
                    f"no failed {args.kind} {args.id} that can be sent again",
                    EXIT_DATA,
                )
            if table.kind == "email":
                await notifier_queries.unsettle_notifications(conn, key)
            await audit.record(
                conn,
                _schema(table),
                actor=audit.operator(),
                action=f"{table.kind}.retry",
                subject=str(key),
            )
        print(f"{args.kind} {args.id} will be sent again")
        return 0

    return asyncio.run(with_pool(settings, work))


def register(sub: Any) -> None:
    deliveries = sub.add_parser(
        "deliveries", help="failed and stuck emails, forwards and referrals: list, retry"
    )
    deliveries.add_argument("action", choices=("list", "retry"))
    deliveries.add_argument(
        "kind", nargs="?", choices=tuple(TABLES), help="email, forward, referral or confirmation"
    )
    deliveries.add_argument("id", nargs="?", help="retry: the delivery's id")
    deliveries.add_argument("--limit", type=int, default=200)
    deliveries.add_argument("--json", action="store_true")
    deliveries.set_defaults(func=lambda a: _list(a) if a.action == "list" else _retry(a))
