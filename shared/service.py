"""Start-up and shutdown of a service process, the same for every service.

A service describes itself with a ``ServiceSpec`` (its schema, migrations,
queue, handler, HTTP routes); ``run`` does the rest: settings, logging, the
database pool and migrations, the robust broker connection, the HTTP server
with health checks, the consumer, and the background jobs and outbox relay
under one supervisor (``shared.supervisor``), and on SIGTERM an orderly stop
that lets in-flight messages finish. SIGUSR1 makes every supervised task
crash once: a drill (and the chaos suite's fault) that proves they come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from shared import db, logs, metrics, migrations, quarantine
from shared.consumer import BatchHandler, Consumer, Handler
from shared.http import Check, ProblemAppRunner, liveness_route, problem_middleware
from shared.operator_http import operator_routes, start_operator_site
from shared.outbox import OutboxRelay
from shared.publisher import Publisher
from shared.settings import Settings, SettingsError
from shared.supervisor import Supervisor, task_name
from shared.topology import QueueSpec, Topology

log = logs.get_logger(__name__)

EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h
RELAY_TASK = "outbox_relay"
QUARANTINE_TASK = "quarantine_watch"
QUARANTINE_EVERY_S = 30.0


@dataclass
class Runtime:
    """What a service's views and handlers may use."""

    name: str
    settings: Settings
    pool: db.Pool
    connection: AbstractRobustConnection
    publisher: Publisher
    topology: Topology
    extras: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    schema: str
    migrations: Path
    port: Callable[[Settings], int]
    # A queue, or how to find it in the settings (a matcher shard's).
    queue: QueueSpec | Callable[[Settings], QueueSpec] | None = None
    handler: Callable[[Runtime], Handler] | None = None
    # Event types applied many at once (``shared.consumer``), with their handlers.
    batch_handlers: Callable[[Runtime], Mapping[str, BatchHandler]] | None = None
    routes: Callable[[web.Application, Runtime], None] | None = None
    background: tuple[Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]], ...] = ()
    relay: bool = True
    # False when the service never leaves session state on a pooled
    # connection: each release then saves the reset query's round trip.
    reset_sessions: bool = True
    # Where the HTTP server binds; the shared PASSAPAROLA_HTTP_HOST when None.
    host: Callable[[Settings], str] | None = None
    # The operator listener's port (metrics, readiness details), never public;
    # None for a service that is itself operator-only (the console): its own
    # port serves them.
    operator_port: Callable[[Settings], int] | None = None


def topology_from(settings: Settings) -> Topology:
    return Topology(
        namespace=settings.broker_namespace,
        delivery_limit=settings.delivery_limit,
        retry_delays_ms=settings.retry_delays_ms,
        matcher_shards=settings.matcher_shards,
    )


def load_settings() -> Settings:
    """Settings, or exit with one clear line per problem (never a traceback)."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"passaparola: configuration error: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


async def _until_ready(
    what: str, attempt: Callable[[], Awaitable[object]], stop: asyncio.Event
) -> object:
    """Start-up waits for a dependency instead of crashing on it (it may be
    starting too); each failure is logged with its reason."""
    pause = 0.5
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if stop.is_set():
                raise
            log.warning(f"waiting for {what}", error=type(exc).__name__, pause_s=pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            pause = min(pause * 2, 5.0)


async def serve(spec: ServiceSpec, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(stop, settings.task_restart_delays_ms)
    loop.add_signal_handler(signal.SIGUSR1, supervisor.crash)

    logs.bind_process(service=spec.name)
    pool: db.Pool = await _until_ready(  # type: ignore[assignment]
        "database",
        lambda: db.create_pool(settings, name=spec.name, reset_sessions=spec.reset_sessions),
        stop,
    )

    async def migrate() -> None:
        async with pool.acquire() as conn:
            # The tables every service shares (the quarantine) first.
            await migrations.apply(conn, quarantine.SERVICE, quarantine.MIGRATIONS)
            await migrations.apply(conn, spec.name, spec.migrations)

    await _until_ready("migrations", migrate, stop)
    connection: AbstractRobustConnection = await _until_ready(  # type: ignore[assignment]
        "broker",
        lambda: aio_pika.connect_robust(
            settings.amqp_url, client_properties={"connection_name": f"passaparola-{spec.name}"}
        ),
        stop,
    )
    topology = topology_from(settings)
    channel = await connection.channel()
    await topology.declare_all(channel)
    publisher = await Publisher.create(channel, topology)
    runtime = Runtime(spec.name, settings, pool, connection, publisher, topology)

    app = web.Application(
        middlewares=[problem_middleware], client_max_size=settings.webhook_max_bytes
    )

    async def database_ready() -> None:
        await pool.fetchval("SELECT 1")

    started = asyncio.Event()

    async def startup_done() -> None:
        if not started.is_set():
            raise RuntimeError("still starting")

    async def broker_ready() -> None:
        if connection.is_closed or not connection.connected.is_set():
            raise ConnectionError("broker connection down")

    jobs = {task_name(job): job for job in spec.background}
    if len(jobs) != len(spec.background):
        raise ValueError(f"{spec.name}: two background jobs have the same task name")
    if spec.relay:
        relay = OutboxRelay(pool=pool, schema=spec.schema, publisher=publisher)

        async def relay_job(_: Runtime, stop: asyncio.Event) -> None:
            await relay.run(stop)

        jobs[RELAY_TASK] = relay_job
    tasks = [*jobs]

    async def quarantine_watch(_: Runtime, stop: asyncio.Event) -> None:
        await _watch_quarantine(pool, spec.name, tasks, stop)

    jobs[QUARANTINE_TASK] = quarantine_watch
    checks: dict[str, Check] = {
        "startup": startup_done,
        "database": database_ready,
        "broker": broker_ready,
    }
    # One check per supervised task: /readyz names the one that is down.
    checks.update({f"task:{name}": supervisor.check(name) for name in jobs})
    operator: web.AppRunner | None = None
    if spec.operator_port is None:
        operator_routes(app, checks)
    else:
        liveness_route(app)
        operator = await start_operator_site(
            settings.operator_host, spec.operator_port(settings), checks
        )
    if spec.routes is not None:
        spec.routes(app, runtime)
    runner = ProblemAppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    port = spec.port(settings)
    host = settings.http_host if spec.host is None else spec.host(settings)
    # With reuse_port, several processes of this service listen on the port
    # and the kernel deals the connections out among them.
    await web.TCPSite(runner, host, port, reuse_port=settings.http_reuse_port or None).start()

    consumer: Consumer | None = None
    if spec.queue is not None and spec.handler is not None:
        consumer = Consumer(
            spec=spec.queue if isinstance(spec.queue, QueueSpec) else spec.queue(settings),
            topology=topology,
            handler=spec.handler(runtime),
            pool=pool,
            inbox_table=f"{spec.schema}.inbox",
            prefetch=settings.prefetch,
            batch_handlers=None if spec.batch_handlers is None else spec.batch_handlers(runtime),
            batch_size=settings.consumer_batch,
        )
        await consumer.start(connection)
    for name, job in jobs.items():
        supervisor.start(name, functools.partial(job, runtime))
    started.set()
    log.info("started", http=f"{host}:{port}")

    await stop.wait()
    log.info("stopping", grace_s=settings.shutdown_grace_s)
    # Each step is bounded: with the broker or the database gone, a close
    # would otherwise wait for them forever, and SIGTERM must end the process.
    if consumer is not None:
        await consumer.stop(settings.shutdown_grace_s)
    if not await _bounded("background tasks", supervisor.wait()):
        supervisor.cancel()
        await _bounded("background tasks cancelled", supervisor.wait(), seconds=2.0)
    await _bounded("http server", runner.cleanup())
    if operator is not None:
        await _bounded("operator http server", operator.cleanup())
    await _bounded("broker connection", connection.close())
    if not await _bounded("database pool", pool.close()):
        pool.terminate()
    log.info("stopped")


async def _watch_quarantine(
    pool: db.Pool, service: str, tasks: list[str], stop: asyncio.Event
) -> None:
    """Records held for this service's tasks, on /metrics (the CLI that
    releases them is another process, so the figure is read, not kept)."""
    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                metrics.set_quarantined(await quarantine.count_held(conn, service), tasks)
        except quarantine.TRANSIENT as exc:
            log.debug("quarantine not measured", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=QUARANTINE_EVERY_S)


async def _bounded(what: str, step: Awaitable[object], seconds: float = 10.0) -> bool:
    """Await one shutdown step for at most ``seconds``; False if it did not end."""
    try:
        await asyncio.wait_for(step, timeout=seconds)
    except TimeoutError:
        log.warning("shutdown step abandoned", step=what, after_s=seconds)
        return False
    except Exception as exc:
        log.warning("shutdown step failed", step=what, error=type(exc).__name__)
        return False
    return True


def main(spec: ServiceSpec) -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(spec, settings))
