"""HTTP edges shared by the services: RFC 9457 problem details and health checks."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

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
    except Exception:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "Something went wrong on our side.")


def _passthrough_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("Allow", "Retry-After")
    return {k: v for k, v in exc.headers.items() if k in keep}


Check = Callable[[], Awaitable[None]]


def health_routes(app: web.Application, checks: dict[str, Check]) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

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

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
