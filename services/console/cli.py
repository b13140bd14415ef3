"""The console's commands: ``passaparola console`` (the web console) and
``passaparola status`` (the same overview in the terminal)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

import aiohttp

from services.console.assets import duration
from services.console.overview import ManagementUnavailable, Overview, gather
from shared.commands import EXIT_UNAVAILABLE, CliError
from shared.service import EXIT_CONFIG, load_settings


def _console(args: argparse.Namespace) -> int:
    from services.console.service import main

    main()
    return 0


def render(overview: Overview, out: TextIO) -> None:
    print(f"passaparola status · namespace {overview.namespace}", file=out)
    print(file=out)
    header = f"{'queue':<44} {'ready':>7} {'unacked':>7} {'consumers':>9} {'in/s':>7} {'ack/s':>7}"
    print(header, file=out)
    for q in overview.queues:
        warn = "  <- no consumer" if q.kind == "main" and q.consumers == 0 else ""
        print(
            f"{q.name:<44} {q.ready:>7} {q.unacked:>7} {q.consumers:>9} "
            f"{q.publish_rate:>7.1f} {q.ack_rate:>7.1f}{warn}",
            file=out,
        )
    print(file=out)
    print("dead letters:", file=out)
    for q in overview.dead_letter_queues:
        print(f"  {q.name:<42} {q.messages:>7}", file=out)
    if not overview.dead_letter_queues:
        print("  (no dead-letter queue declared yet)", file=out)
    print(file=out)
    print("outbox:", file=out)
    for s in overview.services:
        if s.error:
            text = s.error
        elif s.outbox_depth is None:
            text = "no outbox"
        else:
            text = f"{int(s.outbox_depth)} waiting, oldest {duration(s.outbox_age_s) or '0 s'}"
        print(f"  {s.name:<12} {text}   ({s.url})", file=out)
    print(file=out)
    print("deliveries (failed for good, or stuck retrying):", file=out)
    shown = False
    for s in overview.services:
        for d in s.deliveries:
            if d.count:
                shown = True
                print(f"  {s.name:<12} {d.kind:<9} {d.state:<7} {d.count:>5}", file=out)
    if shown:
        print(
            "  see `passaparola deliveries list`; send one again with `deliveries retry`", file=out
        )
    else:
        print("  none", file=out)


def _status(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def work() -> Overview:
        async with aiohttp.ClientSession() as http:
            return await gather(http, settings)

    try:
        overview = asyncio.run(work())
    except ManagementUnavailable as exc:
        if exc.refused:
            raise CliError("ManagementRefused", str(exc), EXIT_CONFIG) from None
        raise CliError("BrokerUnavailable", str(exc), EXIT_UNAVAILABLE) from None
    if args.json:
        print(
            json.dumps(
                {
                    "namespace": overview.namespace,
                    "queues": [asdict(q) for q in overview.queues],
                    "services": [asdict(s) for s in overview.services],
                    "dead_letters": overview.dead_letters,
                    "deliveries": [
                        {"service": s.name, **asdict(d)}
                        for s in overview.services
                        for d in s.deliveries
                    ],
                }
            )
        )
    else:
        render(overview, sys.stdout)
    return 0


def register(sub: Any) -> None:
    sub.add_parser(
        "console", help="run the operator console (queues, outboxes, dead letters)"
    ).set_defaults(func=_console)
    status = sub.add_parser(
        "status", help="queues, consumers, dead letters and outbox age, in the terminal"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
