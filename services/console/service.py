"""Wiring of the operator console: its own admin port and host, its schema
(the audit log), no queue and no outbox."""

from __future__ import annotations

import sys
from pathlib import Path

from services.console import views
from shared import logs
from shared.service import EXIT_CONFIG, ServiceSpec, load_settings, serve

MIN_PASSWORD = 12

SPEC = ServiceSpec(
    name="console",
    schema="console",
    migrations=Path(__file__).parent / "migrations",
    port=lambda settings: settings.console_port,
    host=lambda settings: settings.console_host,
    routes=views.routes,
    background=(views.sample_throughput,),
    relay=False,
)


def main() -> None:
    import asyncio

    settings = load_settings()
    password = settings.console_password
    if len(password) < MIN_PASSWORD:
        problem = "is missing" if not password else f"is shorter than {MIN_PASSWORD} characters"
        print(
            f"passaparola: configuration error: PASSAPAROLA_CONSOLE_PASSWORD {problem}"
            " (the operators' password for the console)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_CONFIG)
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(SPEC, settings))
