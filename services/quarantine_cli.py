"""``passaparola quarantine list|retry``: the records background tasks set
aside after they made them fail (shared/quarantine.py), and the operator's
retry, which hands one back to its task."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from shared import db, quarantine
from shared.commands import EXIT_DATA, CliError, with_pool
from shared.service import load_settings


def _list(args: argparse.Namespace) -> int:
    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn:
            held = await quarantine.listing(conn, include_released=args.all)
        for h in held:
            print(
                json.dumps(
                    {
                        "id": h.id,
                        "service": h.service,
                        "task": h.task,
                        "record_id": h.record_id,
                        "reason": h.reason,
                        "failures": h.failures,
                        "first_failed_at": h.first_failed_at.isoformat(),
                        "last_failed_at": h.last_failed_at.isoformat(),
                        "released_at": h.released_at.isoformat() if h.released_at else None,
                    }
                )
            )
        return 0

    return asyncio.run(with_pool(load_settings(), work))


def _retry(args: argparse.Namespace) -> int:
    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn:
            released = await quarantine.release(conn, args.id)
        if not released:
            raise CliError(
                "NotHeld", f"no record is held in quarantine with id {args.id}", EXIT_DATA
            )
        print(f"retry: record {args.id} handed back to its task")
        return 0

    return asyncio.run(with_pool(load_settings(), work))


def register(sub: Any) -> None:
    held = sub.add_parser(
        "quarantine", help="records that made a background task fail: list, retry"
    )
    actions = held.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the records held (JSON, one per line)")
    listing.add_argument("--all", action="store_true", help="released ones too")
    listing.set_defaults(func=_list)
    retry = actions.add_parser("retry", help="hand a held record back to its task")
    retry.add_argument("id", type=int, help="the id shown by 'passaparola quarantine list'")
    retry.set_defaults(func=_retry)
