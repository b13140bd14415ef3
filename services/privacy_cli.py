"""Operator commands for members' privacy rights and the data key:
``passaparola member export|erase ID`` and ``passaparola keys rotate``.

These sit beside ``services/cli.py`` (the composition root), not inside one
service: ``keys rotate`` re-seals the sealed columns of every service, each
service naming its own columns (``SEALED_COLUMNS`` in its ``privacy``
module), like ``migrate`` applies every service's migrations. Export and
erasure go through ingest and the events, as the platform's API does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aio_pika

from services.ingest import privacy as ingest_privacy
from services.ingest.member_changes import erase_member
from services.notifier import privacy as notifier_privacy
from shared import audit, dlq
from shared.commands import EXIT_DATA, EXIT_UNAVAILABLE, CliError, with_broker, with_pool
from shared.db import Pool, transaction
from shared.sealing import SealError, sealer_for
from shared.service import load_settings, topology_from


def _member(args: argparse.Namespace) -> int:
    settings = load_settings()
    sealer = sealer_for(settings.secret_keys)
    actor = audit.operator()

    async def export(pool: Pool) -> int:
        try:
            async with transaction(pool) as conn:
                export_id = await ingest_privacy.request_export(conn, args.id, actor)
        except ingest_privacy.UnknownMember:
            raise CliError("UnknownMember", f"no member {args.id}", EXIT_DATA) from None
        document, missing = await ingest_privacy.wait_for_export(pool, export_id, sealer, args.wait)
        if document is None:
            raise CliError(
                "ExportIncomplete",
                f"no answer from {', '.join(missing)} within {args.wait:g} s: is it running?",
                EXIT_UNAVAILABLE,
            )
        async with transaction(pool) as conn:
            await ingest_privacy.finish_export(conn, export_id, actor, document["member_id"])
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0

    topology = topology_from(settings)

    async def erase(pool: Pool) -> int:
        async with transaction(pool) as conn:
            member_id = await erase_member(conn, args.id)
            if member_id is None:
                raise CliError(
                    "UnknownMember", f"no member {args.id} (or already erased)", EXIT_DATA
                )
            await audit.record(
                conn, "ingest", actor=actor, action="member.erase", subject=str(member_id)
            )
        queues = [topology.dead_letter_queue(spec) for spec in topology.service_queues()]

        async def forget(connection: aio_pika.abc.AbstractConnection) -> int:
            return await dlq.forget_member(connection, queues, str(member_id))

        try:
            removed = await with_broker(settings, forget)
        except CliError:
            print(
                f"member {args.id} erased; RabbitMQ is unreachable, so finish with: "
                f"passaparola dlq forget {member_id}",
                file=sys.stderr,
            )
            return EXIT_UNAVAILABLE
        print(
            f"member {args.id} erased here; every service is told (member.erased); "
            f"{removed} dead letter(s) about them removed"
        )
        return 0

    return asyncio.run(with_pool(settings, export if args.action == "export" else erase))


def _keys(args: argparse.Namespace) -> int:
    settings = load_settings()
    sealer = sealer_for(settings.secret_keys)

    async def work(pool: Pool) -> int:
        counts: dict[str, int] = {}
        try:
            async with transaction(pool) as conn:
                counts.update(await ingest_privacy.reseal(conn, sealer))
                counts.update(await notifier_privacy.reseal(conn, sealer))
                await audit.record(
                    conn, "ingest", actor=audit.operator(), action="keys.rotate", details=counts
                )
        except SealError:
            raise CliError(
                "CannotOpen",
                "a sealed value opens with none of the keys: list the old key in "
                "PASSAPAROLA_PREVIOUS_SECRET_KEYS (nothing was changed)",
                EXIT_DATA,
            ) from None
        for column, count in counts.items():
            print(f"{column}: {count} re-sealed")
        print("Every value is now sealed under PASSAPAROLA_SECRET_KEY; old links keep working "
              "while the previous keys stay listed.")  # fmt: skip
        return 0

    return asyncio.run(with_pool(settings, work))


def register(sub: Any) -> None:
    member = sub.add_parser("member", help="a member's privacy rights: export, erase")
    member.add_argument("action", choices=("export", "erase"))
    member.add_argument("id", help="the member's id on the community platform")
    member.add_argument(
        "--wait", type=float, default=30.0, help="export: seconds to wait for the services"
    )
    member.set_defaults(func=_member)
    keys = sub.add_parser("keys", help="the data key: re-seal everything under the current one")
    keys.add_argument("action", choices=("rotate",))
    keys.set_defaults(func=_keys)
