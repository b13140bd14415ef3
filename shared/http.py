"""HTTP edges shared by the services: RFC 9457 problem details, health checks,
and a server whose own low-level errors (a header over the limit, a request
line it cannot parse) are problem details too, never an echo of the bytes."""

from __future__ import annotations

import json
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from shared import logs
from shared.db import UNAVAILABLE

log = logs.get_logger(__name__)

PROBLEM_TYPE = "application/problem+json"

HTTPHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


class Problem(Exception):
    """Raised by a view to answer with problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def response(self) -> web.Response:
        return problem(self.status, self.title, self.detail, headers=self.headers, **self.extra)


@web.middleware
async def problem_middleware(request: web.Request, handler: HTTPHandler) -> web.StreamResponse:
    """Domain errors become HTTP errors here, at the edge, and nowhere else."""
    # The route's pattern, never the raw path: a path can hold an id a person
    # chose (a member's platform id, say).
    resource = request.match_info.route.resource
    logs.bind(method=request.method, route=resource.canonical if resource else "(unmatched)")
    try:
        return await handler(request)
    except Problem as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, headers=_passthrough_headers(exc))
    except UNAVAILABLE as exc:
        log.warning("database unavailable", error=type(exc).__name__)
        return problem(
            503,
            "Service Unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": "5"},
        )
    except Exception as exc:
        # Its type and where it was raised, not its text nor the traceback's:
        # a driver's message can quote a submitted value ("... 'Mario'").
        log.error("unhandled error", error=type(exc).__name__, at=_where(exc))
        return problem(500, "Internal Server Error", "Something went wrong on our side.")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def _passthrough_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("Allow", "Retry-After")
    return {k: v for k, v in exc.headers.items() if k in keep}


Check = Callable[[], Awaitable[None]]


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def liveness_route(app: web.Application) -> None:
    """A public port's only health route: alive or not, nothing about what
    the process depends on or counts."""
    app.router.add_get("/healthz", _healthz)


def health_routes(app: web.Application, checks: dict[str, Check]) -> None:
    """Liveness and readiness (with the name of each failing check): served
    on the operator listener, never on a public port."""

    async def readyz(_: web.Request) -> web.Response:
        failed: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:
                failed[name] = type(exc).__name__
        if failed:
            return problem(
                503,
                "Not Ready",
                "A dependency is unreachable.",
                checks=failed,
                headers={"Retry-After": "5"},
            )
        return web.json_response({"status": "ready", "checks": sorted(checks)})

    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", readyz)


# --- errors before a request reaches the application ------------------------------------

# Limits of the request line and of each header (aiohttp's defaults are
# 8190; ours are stated here so the docs and the tests can name them).
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
HANDLER_ARGS: dict[str, Any] = {
    "max_line_size": MAX_LINE_BYTES,
    "max_field_size": MAX_FIELD_BYTES,
}


class _ProblemRequestHandler(RequestHandler):
    """aiohttp answers what it cannot parse with a text/plain body that quotes
    the offending bytes (a header value can be anything a client sent); here
    that answer is a problem document that names no byte of the request."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: nothing more can be sent
            raise ConnectionError("response already started")
        if isinstance(exc, LineTooLong):
            status, title = 431, "Request Header Fields Too Large"
            detail = f"A request line or header is over {MAX_FIELD_BYTES} bytes."
        elif isinstance(exc, HttpProcessingError) and 400 <= status < 500:
            title, detail = "Bad Request", "The request is not well-formed HTTP."
        elif status == 504:
            title, detail = "Gateway Timeout", "The request took too long."
        else:
            status, title, detail = 500, "Internal Server Error", "Something went wrong."
        # The exception's text quotes the request: only its type is logged.
        log.warning("request refused by the HTTP parser", status=status, error=type(exc).__name__)
        response = problem(status, title, detail)
        response.force_close()
        return response


class ProblemAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer parse errors with problem+json
    (see ``_ProblemRequestHandler``)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **{**HANDLER_ARGS, **kwargs})

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # aiohttp has no hook for the handler class: the server that makes
        # one per connection is given a subclass that makes ours.
        server.__class__ = _ProblemServer
        return server


class _ProblemServer(Server):
    def __call__(self) -> RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)
