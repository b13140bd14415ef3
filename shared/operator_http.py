"""The operator listener: a second HTTP server per service, bound to the
operator network, that serves what only operators may see.

Companies reach ingest's public port and members the notifier's; from either,
counts of events, emails or matches would tell a company how many members an
opening reached. So ``/metrics`` and ``/readyz`` (with the names of failing
dependencies) live here, on ``PASSAPAROLA_OPERATOR_HOST`` and the service's
operator port, and the public ports keep a bare ``/healthz``.
"""

from __future__ import annotations

from aiohttp import web

from shared import metrics
from shared.http import Check, ProblemAppRunner, health_routes, problem_middleware


def operator_routes(app: web.Application, checks: dict[str, Check]) -> None:
    health_routes(app, checks)
    metrics.metrics_route(app)


def operator_app(checks: dict[str, Check]) -> web.Application:
    app = web.Application(middlewares=[problem_middleware])
    operator_routes(app, checks)
    return app


async def start_operator_site(host: str, port: int, checks: dict[str, Check]) -> web.AppRunner:
    """Serve the operator routes on ``host:port``; the caller cleans the runner up."""
    runner = ProblemAppRunner(operator_app(checks), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
