"""What each port of a real service process answers: operator-only routes
on the operator listener, nothing that counts on the public port, and the
HTTP parser's own refusals as problem+json that quote no byte of the request."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared import logs
from shared.http import problem_middleware
from tests.helpers import ServiceProcess, free_port

pytestmark = pytest.mark.real

OPERATOR_ONLY = ("/metrics", "/readyz")
MARKER = "CANARY-7f3a9c"


@pytest.fixture(params=["ingest", "notifier", "matcher"])
async def service(request, service_env, tmp_path: Path):
    name = request.param
    port = free_port()
    env = {**service_env, f"PASSAPAROLA_{name.upper()}_PORT": str(port)}
    process = ServiceProcess(["-m", f"services.{name}"], env, port, tmp_path / f"{name}.log")
    await process.start()
    yield process
    process.kill()


async def test_the_public_port_serves_no_operator_route(service: ServiceProcess):
    async with aiohttp.ClientSession() as http:
        for path in OPERATOR_ONLY:
            async with http.get(f"http://127.0.0.1:{service.port}{path}") as resp:
                assert resp.status == 404, path
                assert resp.content_type == "application/problem+json"
                assert "passaparola_" not in await resp.text()
        async with http.get(f"http://127.0.0.1:{service.port}/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with http.get(f"http://127.0.0.1:{service.operator_port}/metrics") as resp:
            assert resp.status == 200
            assert "passaparola_" in await resp.text()
        async with http.get(f"http://127.0.0.1:{service.operator_port}/readyz") as resp:
            assert resp.status == 200
            assert set((await resp.json())["checks"]) >= {"database", "broker"}


async def _raw(port: int, request: bytes) -> bytes:
    """A request sent byte for byte (a client library refuses to send these)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + MARKER.encode() * 1000 + b"\r\n\r\n",
            431,
        ),
        (b"GET /" + MARKER.encode() * 1000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad" + MARKER.encode() + b"\x00: v\r\n\r\n", 400),
        (MARKER.encode() + b" / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
    ids=["long-header", "long-line", "nul-in-header-name", "bad-method"],
)
async def test_unparseable_requests_get_problem_json_without_an_echo(
    service: ServiceProcess, request_bytes: bytes, status: int
):
    raw = await _raw(service.port, request_bytes)
    head, _, body = raw.partition(b"\r\n\r\n")
    # HTTP/1.0 when the request line itself was not understood.
    assert head.split(b" ")[1] == str(status).encode(), head[:80]
    assert b"content-type: application/problem+json" in head.lower()
    assert MARKER.encode() not in raw
    assert f'"status": {status}'.encode() in body
    assert MARKER not in service.log.read_text()


async def test_an_unhandled_error_is_logged_without_its_text():
    """A 500 from a view: the log names the exception and where, never its
    message (which can quote what was sent), and the body says nothing."""

    async def view(request: web.Request) -> web.Response:
        raise ValueError(f"invalid input syntax: {request.query['name']!r}")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/boom", view)
    out = io.StringIO()
    logs.configure("debug", "json", stream=out)
    try:
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/boom", params={"name": MARKER})
            assert resp.status == 500
            assert MARKER not in await resp.text()
    finally:
        logs.configure("info", "json")
    (line,) = [json.loads(x) for x in out.getvalue().splitlines() if "unhandled error" in x]
    assert line["error"] == "ValueError" and "in view" in line["at"]
    assert MARKER not in out.getvalue()
