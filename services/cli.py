"""The ``passaparola`` command: start a service, or run an operator's task.

Errors are named and have their own exit codes; a person never sees a
traceback for something they can fix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aio_pika

from services import deliveries_cli, privacy_cli, quarantine_cli
from services.console import cli as console_cli
from services.ingest import cli as ingest_cli
from services.matcher import cli as matcher_cli
from shared import db, dlq, logs, migrations, quarantine
from shared.commands import (
    EXIT_DATA,
    EXIT_NOINPUT,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    with_broker,
    with_pool,
)
from shared.service import EXIT_CONFIG, ServiceSpec, load_settings
from shared.settings import markdown_table

# The exit codes the README documents; tests/ingest/test_cli_real.py holds
# every documented command to them.
EXIT_CODES = f"""exit codes:
  0   done
  {EXIT_USAGE}   usage: a missing or malformed argument
  {EXIT_DATA}  bad data: the input, or an id that is not there
  {EXIT_NOINPUT}  an input file is missing or unreadable
  {EXIT_UNAVAILABLE}  a server the command needs is unreachable
  {EXIT_TEMPFAIL}  try again later (shards reshard while matchers run)
  {EXIT_CONFIG}  configuration: a setting is missing or wrong
Errors are printed as "passaparola: ErrorName: what to do"."""


def _specs() -> dict[str, ServiceSpec]:
    # Imported here: each service's wiring is loaded only when it is asked for.
    from services.ingest.service import SPEC as INGEST
    from services.matcher.service import SPEC as MATCHER
    from services.notifier.service import SPEC as NOTIFIER

    return {s.name: s for s in (INGEST, MATCHER, NOTIFIER)}


def _run_service(args: argparse.Namespace) -> int:
    from shared.service import main

    main(_specs()[args.command])
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work(pool: db.Pool) -> int:
        async with pool.acquire() as conn:
            from services.console.service import SPEC as CONSOLE

            applied = await migrations.apply(conn, quarantine.SERVICE, quarantine.MIGRATIONS)
            names = [f"{m.version:03d}_{m.name}" for m in applied]
            print(f"{quarantine.SERVICE}: {', '.join(names) if names else 'up to date'}")
            for spec in [*_specs().values(), CONSOLE]:
                try:
                    applied = await migrations.apply(conn, spec.name, spec.migrations)
                except migrations.MigrationError as exc:
                    raise CliError("MigrationError", str(exc), EXIT_DATA) from None
                names = [f"{m.version:03d}_{m.name}" for m in applied]
                print(f"{spec.name}: {', '.join(names) if names else 'up to date'}")
        return 0

    return asyncio.run(with_pool(settings, work))


def _ping(args: argparse.Namespace) -> int:
    from services.ingest.ping import send_pings

    settings = load_settings()

    async def work(pool: db.Pool) -> int:
        for event_id in await send_pings(pool, args.count, args.note):
            print(event_id)
        return 0

    return asyncio.run(with_pool(settings, work))


def _queue_name(name: str) -> str:
    from shared.service import topology_from

    topology = topology_from(load_settings())
    specs = topology.service_queues()  # the matcher's once per shard
    known = {topology.dead_letter_queue(spec): spec for spec in specs}
    known.update({spec.name: spec for spec in specs})
    spec = known.get(name) or known.get(f"{topology.namespace}.{name}.dlq")
    if spec is None:
        raise CliError(
            "UnknownQueue",
            f"no dead-letter queue for {name!r}; known: {', '.join(s.name for s in specs)}",
            EXIT_USAGE,
        )
    return topology.dead_letter_queue(spec)


def _dlq(args: argparse.Namespace) -> int:
    if args.action == "forget":
        return _dlq_forget(args)
    settings = load_settings()
    queue = _queue_name(args.queue)
    ids = set(args.id) if args.id else None
    if args.action in ("replay", "discard") and ids is None and not args.all:
        raise CliError("NothingSelected", "name messages with --id, or pass --all", EXIT_USAGE)

    async def work(connection: aio_pika.abc.AbstractConnection) -> int:
        if args.action == "list":
            for letter in await dlq.peek(connection, queue, args.limit):
                print(json.dumps(letter.to_json(), ensure_ascii=False))
            return 0
        act = dlq.replay if args.action == "replay" else dlq.discard
        done: set[str] = set()
        count = await act(connection, queue, ids, done_ids=done)
        print(f"{args.action}: {count} message(s) from {queue}")
        absent = sorted((ids or set()) - done)
        if absent:
            # Message ids are ours (event ids), never personal data: safe to name.
            raise CliError(
                "NoSuchMessage",
                f"not in {queue} (or with no queue to return to): {', '.join(absent)}",
                EXIT_DATA,
            )
        return 0

    return asyncio.run(with_broker(settings, work))


def _dlq_forget(args: argparse.Namespace) -> int:
    """Finish an erasure in the dead-letter queues (the member's id, not the
    platform's: it is in the erasure's log line and in member.erased)."""
    from shared.service import topology_from

    settings = load_settings()
    try:
        member_id = str(uuid.UUID(args.queue))
    except ValueError:
        raise CliError("BadId", "dlq forget needs the member's id (a UUID)", EXIT_USAGE) from None
    topology = topology_from(settings)
    queues = [topology.dead_letter_queue(spec) for spec in topology.service_queues()]

    async def work(connection: aio_pika.abc.AbstractConnection) -> int:
        removed = await dlq.forget_member(connection, queues, member_id)
        print(f"forget: {removed} dead letter(s) about member {member_id} removed")
        return 0

    return asyncio.run(with_broker(settings, work))


def _settings_table(args: argparse.Namespace) -> int:
    print(markdown_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    # Help is plain text: the module docstring's markup is for the source.
    parser = argparse.ArgumentParser(
        prog="passaparola",
        description="Start a service, or run an operator's task.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        ("ingest", "run the ingest service (webhooks, member API, outbox relay)"),
        ("matcher", "run the matcher service"),
        ("notifier", "run the notifier service (emails, members' links)"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=_run_service)
    sub.add_parser("migrate", help="apply every service's pending migrations").set_defaults(
        func=_migrate
    )
    ping = sub.add_parser("ping", help="send harmless events through the whole pipeline")
    ping.add_argument("--count", type=int, default=1)
    ping.add_argument("--note", default="")
    ping.set_defaults(func=_ping)
    dead = sub.add_parser("dlq", help="inspect, replay or discard dead-lettered messages")
    dead.add_argument("action", choices=("list", "replay", "discard", "forget"))
    dead.add_argument("queue", help="the service queue, e.g. matcher (forget: a member id)")
    dead.add_argument("--id", action="append", help="a message id (repeatable)")
    dead.add_argument("--all", action="store_true", help="replay or discard every message")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(func=_dlq)
    ingest_cli.register(sub)
    matcher_cli.register(sub)
    privacy_cli.register(sub)
    quarantine_cli.register(sub)
    deliveries_cli.register(sub)
    console_cli.register(sub)
    sub.add_parser("settings", help="print the settings table (Markdown)").set_defaults(
        func=_settings_table
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("ingest", "matcher", "notifier"):
        logs.configure("warning", "console" if sys.stderr.isatty() else "json", stream=sys.stderr)
        # A refused connection is said once, by the named error (BrokerUnavailable),
        # not a second time as the AMQP library's own log line.
        logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    handler: Callable[[argparse.Namespace], Any] = args.func
    try:
        return int(handler(args) or 0)
    except CliError as exc:
        print(f"passaparola: {exc.name}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["EXIT_CONFIG", "main"]
