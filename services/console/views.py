"""The operator console's pages: sign-in, the live overview, the dead-letter
queues (browse, replay, discard) and the audit log.

Sign-in is a form and a session cookie (HttpOnly, SameSite=Strict, Secure
when the console's public URL is https), not HTTP Basic: the browser does not
replay the password on every request, and each state-changing form carries a
CSRF token bound to the session. Sessions live on the server
(``console.sessions``): signing out revokes one at once, each expires after
12 hours, and changing the password ends every one (the cookie is signed with
a key of it). Wrong passwords are throttled per address and overall
(``throttle.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from services.console import audit, deliveries
from services.console.assets import CSS, JS, environment
from services.console.history import DEFAULT_WINDOW, WINDOWS, History, HistoryCache
from services.console.overview import (
    ManagementUnavailable,
    Overview,
    Throughput,
    gather,
    service_figures,
    targets,
)
from services.console.throttle import LoginThrottle
from shared import dlq, logs
from shared.sealing import derive_key
from shared.service import Runtime

log = logs.get_logger(__name__)

COOKIE = "passaparola_console"
SESSION_S = 12 * 3600
REFRESH_MS = 5000
SAMPLE_EVERY_S = 15.0
MAX_COOKIE = 200
DLQ_LIMIT = 200

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Console:
    runtime: Runtime
    key: bytes
    throughput: Throughput = field(default_factory=Throughput)
    history: HistoryCache = field(default_factory=HistoryCache)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    templates: Any = field(default_factory=environment)
    http: aiohttp.ClientSession | None = None

    # --- sessions ----------------------------------------------------------------------

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    async def issue(self, remote: str) -> str:
        """A new session, stored (as a hash) until it expires or is revoked."""
        sid = secrets.token_urlsafe(32)
        async with self.runtime.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM console.sessions WHERE expires_at < now() - interval '1 day'"
            )
            await conn.execute(
                "INSERT INTO console.sessions (id_hash, expires_at, remote)"
                " VALUES ($1, now() + make_interval(secs => $2), $3)",
                _hash(sid),
                float(SESSION_S),
                remote,
            )
        return f"{sid}.{self._sign(sid)}"

    def _cookie_sid(self, request: web.Request) -> str | None:
        raw = request.cookies.get(COOKIE, "")
        sid, _, signature = raw.partition(".")
        if not sid or len(raw) > MAX_COOKIE:
            return None
        return sid if hmac.compare_digest(signature, self._sign(sid)) else None

    async def session(self, request: web.Request) -> str | None:
        """The session id of a live session (not revoked, not expired), or None."""
        sid = self._cookie_sid(request)
        if sid is None:
            return None
        live = await self.runtime.pool.fetchval(
            "SELECT true FROM console.sessions"
            " WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
            _hash(sid),
        )
        return sid if live else None

    async def revoke(self, sid: str) -> None:
        await self.runtime.pool.execute(
            "UPDATE console.sessions SET revoked_at = now() WHERE id_hash = $1", _hash(sid)
        )

    @property
    def secure_cookie(self) -> bool:
        # From the configured address, not request.secure: behind a TLS proxy
        # the console itself sees plain HTTP.
        return urlsplit(self.runtime.settings.console_public_url).scheme == "https"

    def csrf(self, sid: str) -> str:
        return self._sign(f"csrf:{sid}")

    # --- pages -------------------------------------------------------------------------

    def render(self, name: str, status: int = 200, **values: Any) -> web.Response:
        html = self.templates.get_template(name).render(**values)
        return web.Response(text=html, content_type="text/html", status=status)

    async def client(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession()
        return self.http

    async def overview(self) -> tuple[Overview | None, str | None]:
        try:
            return await gather(await self.client(), self.runtime.settings), None
        except ManagementUnavailable as exc:
            return None, str(exc)

    async def charts(self, window: str) -> History:
        settings = self.runtime.settings
        return await self.history.get(
            await self.client(), settings.prometheus_url, settings.broker_namespace, window
        )

    def queue_specs(self) -> list[str]:
        """The service queues' names in the topology, the matcher's once per shard."""
        return [spec.name for spec in self.runtime.topology.service_queues()]


CONSOLE = web.AppKey("console", Console)


def _hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


def _console(request: web.Request) -> Console:
    return request.app[CONSOLE]


def _remote(request: web.Request) -> str:
    return (request.remote or "")[:64]


@web.middleware
async def security_headers(request: web.Request, handler: View) -> web.StreamResponse:
    response = await handler(request)
    if request.path not in ("/metrics", "/healthz", "/readyz"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def signed_in(view: View) -> View:
    async def guarded(request: web.Request) -> web.StreamResponse:
        sid = await _console(request).session(request)
        if sid is None:
            if request.path.startswith("/fragment/"):
                return web.Response(status=401, text="sign in again")
            raise web.HTTPSeeOther("/login")
        request["sid"] = sid
        return await view(request)

    return guarded


def state_changing(view: View) -> View:
    """A POST of a signed-in operator, with the CSRF token of their session."""

    async def checked(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = form.get("csrf")
        expected = _console(request).csrf(request["sid"])
        if not isinstance(token, str) or not hmac.compare_digest(token, expected):
            log.warning("console request without a valid CSRF token", path=request.path)
            return web.Response(status=403, text="Forbidden: missing or wrong CSRF token.")
        request["form"] = form
        return await view(request)

    return signed_in(checked)


async def login_page(request: web.Request) -> web.StreamResponse:
    if await _console(request).session(request) is not None:
        raise web.HTTPSeeOther("/")
    return _console(request).render("login", authenticated=False)


async def login(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    form = await request.post()
    remote = _remote(request)
    # From here to the count of a failure there is no await: concurrent
    # guesses are each counted before the next one is judged.
    wait = console.throttle.wait(remote)
    if wait > 0:
        log.warning("console sign-in throttled")
        refused = console.render(
            "login",
            status=429,
            authenticated=False,
            error="Too many wrong passwords; try again later.",
        )
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    given = form.get("password")
    expected = console.runtime.settings.console_password
    ok = isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
    if ok:
        console.throttle.succeeded(remote)
    else:
        console.throttle.failed(remote)
    async with console.runtime.pool.acquire() as conn:
        await audit.record(conn, "login" if ok else "login_failed", remote=remote)
    if not ok:
        log.warning("console sign-in refused")
        return console.render("login", status=401, authenticated=False, error="Wrong password.")
    log.info("console sign-in")
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        COOKIE,
        await console.issue(remote),
        max_age=SESSION_S,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=console.secure_cookie,
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    await console.revoke(request["sid"])
    async with console.runtime.pool.acquire() as conn:
        await audit.record(conn, "logout", remote=_remote(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _window(request: web.Request) -> str:
    window = request.query.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def _live_values(
    console: Console,
    overview: Overview | None,
    error: str | None,
    history: History | None = None,
) -> dict[str, Any]:
    covered = console.throughput.covered_s
    window = (
        "last hour"
        if covered >= console.throughput.window_s - 2 * SAMPLE_EVERY_S
        else f"last {max(1, round(covered / 60))} min (since the console started)"
    )
    return {
        "error": error,
        "namespace": console.runtime.settings.broker_namespace,
        "updated": datetime.now(UTC).strftime("%H:%M:%S"),
        "refresh_ms": REFRESH_MS,
        "queues": overview.queues if overview else [],
        "dead_letter_queues": overview.dead_letter_queues if overview else [],
        "browsable": set(console.queue_specs()),
        "services": overview.services if overview else [],
        "nodes": overview.nodes if overview else [],
        "connections": overview.connections if overview else None,
        "nodes_error": overview.nodes_error if overview else None,
        "throughput": console.throughput.increase(),
        "totals": console.throughput.totals(),
        "window": window,
        "history": history,
        "windows": list(WINDOWS),
        "current": overview.current() if overview else None,
    }


async def _overview_values(request: web.Request) -> dict[str, Any]:
    console = _console(request)
    (overview, error), history = await asyncio.gather(
        console.overview(), console.charts(_window(request))
    )
    return _live_values(console, overview, error, history)


async def index(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    return console.render(
        "overview",
        authenticated=True,
        csrf=console.csrf(request["sid"]),
        fragment="/fragment/overview",
        **await _overview_values(request),
    )


async def fragment(request: web.Request) -> web.StreamResponse:
    return _console(request).render("live", **await _overview_values(request))


async def queues_page(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    overview, error = await console.overview()
    return console.render(
        "queues",
        authenticated=True,
        csrf=console.csrf(request["sid"]),
        fragment="/fragment/queues",
        **_live_values(console, overview, error),
    )


async def queues_fragment(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    overview, error = await console.overview()
    return console.render("queues_live", **_live_values(console, overview, error))


def _dead_letter_queue(console: Console, service: str) -> str:
    topology = console.runtime.topology
    for spec in topology.service_queues():
        if spec.name == service:
            return topology.dead_letter_queue(spec)
    raise web.HTTPNotFound(text="No such dead-letter queue.")


async def dlq_page(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    service = request.match_info["service"]
    queue = _dead_letter_queue(console, service)
    letters = await dlq.peek(console.runtime.connection, queue, DLQ_LIMIT)
    return console.render(
        "dlq",
        authenticated=True,
        csrf=console.csrf(request["sid"]),
        service=service,
        queue=queue,
        letters=letters,
        flash=_flash(request),
    )


async def dlq_act(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    service = request.match_info["service"]
    queue = _dead_letter_queue(console, service)
    form = request["form"]
    action = form.get("action")
    ids = {str(v)[:200] for v in form.getall("id", [])}
    if action not in ("replay", "discard"):
        raise web.HTTPBadRequest(text="Unknown action.")
    if not ids:
        raise web.HTTPSeeOther(f"/dlq/{service}?action={action}&done=0&of=0")
    act = dlq.replay if action == "replay" else dlq.discard
    done = await act(console.runtime.connection, queue, ids)
    async with console.runtime.pool.acquire() as conn:
        await audit.record(
            conn,
            action,
            queue=queue,
            message_ids=sorted(ids),
            requested=len(ids),
            done=done,
            remote=_remote(request),
        )
    log.info("console dead-letter action", action=action, queue=queue, done=done)
    raise web.HTTPSeeOther(f"/dlq/{service}?action={action}&done={done}&of={len(ids)}")


def _flash(request: web.Request) -> str:
    """The outcome of the last action, rebuilt from numbers (a crafted link
    cannot put words on the page)."""
    query = request.query
    try:
        done, of = int(query.get("done", "")), int(query.get("of", ""))
    except ValueError:
        return ""
    if of == 0:
        return "Nothing selected."
    verb = {"replay": "Replayed", "discard": "Discarded"}.get(query.get("action", ""))
    return f"{verb} {done} of {of} message(s)." if verb else ""


async def audit_page(request: web.Request) -> web.StreamResponse:
    console = _console(request)
    async with console.runtime.pool.acquire() as conn:
        entries = await audit.latest(conn, 200)
    return console.render(
        "audit", authenticated=True, csrf=console.csrf(request["sid"]), entries=entries
    )


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "console.css":
        return web.Response(text=CSS, content_type="text/css")
    if name == "console.js":
        return web.Response(text=JS, content_type="application/javascript")
    raise web.HTTPNotFound()


def console_key(secret_key: str, password: str) -> bytes:
    """Sessions are signed with a key of the secret and the password: a new
    password ends every session."""
    return hmac.new(
        derive_key(secret_key, "console-session/v1"), password.encode(), hashlib.sha256
    ).digest()


def routes(app: web.Application, runtime: Runtime) -> None:
    settings = runtime.settings
    console = Console(runtime, console_key(settings.secret_key, settings.console_password))
    runtime.extras["console"] = console
    app[CONSOLE] = console
    app.middlewares.append(security_headers)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", state_changing(logout))
    app.router.add_get("/", signed_in(index))
    app.router.add_get("/fragment/overview", signed_in(fragment))
    app.router.add_get("/queues", signed_in(queues_page))
    app.router.add_get("/fragment/queues", signed_in(queues_fragment))
    app.router.add_get("/dlq/{service}", signed_in(dlq_page))
    app.router.add_post("/dlq/{service}/act", state_changing(dlq_act))
    app.router.add_get("/audit", signed_in(audit_page))
    app.router.add_get("/deliveries", signed_in(deliveries.page(_console)))
    app.router.add_get("/static/{name}", static)
    from services.console import quarantine  # it builds on this module

    quarantine.routes(app)

    async def close_client(_: web.Application) -> None:
        if console.http is not None:
            await console.http.close()

    app.on_cleanup.append(close_client)


async def sample_throughput(runtime: Runtime, stop: asyncio.Event) -> None:
    """Every 15 s, each service's counters, for the last hour's throughput."""
    console = runtime.extras["console"]
    assert isinstance(console, Console)
    while not stop.is_set():
        try:
            http = await console.client()
            figures = [await service_figures(http, n, u) for n, u in targets(runtime.settings)]
            console.throughput.add(time.time(), figures)
        except Exception as exc:  # sampling must never stop the console
            log.warning("throughput sample failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SAMPLE_EVERY_S)
