"""The console's quarantine page, on the real console process: a held
record is shown with its reason, an operator's retry hands it back (with the
CSRF token of the session) and is audited; nothing without signing in."""

from __future__ import annotations

import re

import aiohttp
import pytest

from shared import quarantine
from tests.helpers import ServiceProcess, free_port

pytestmark = pytest.mark.real

PASSWORD = "quarantine-operator-pw"


@pytest.fixture
async def console(service_env, tmp_path):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_CONSOLE_PORT": str(port),
        "PASSAPAROLA_CONSOLE_PASSWORD": PASSWORD,
        "PASSAPAROLA_CONSOLE_TARGETS": f"matcher=http://127.0.0.1:{free_port()}",
    }
    process = ServiceProcess(
        ["-m", "services.console"], env, port, tmp_path / "console.log", operator_port=port
    )
    await process.start()
    yield f"http://127.0.0.1:{port}"
    process.kill()


async def test_an_operator_sees_a_held_record_and_retries_it(console, pool):
    async with pool.acquire() as conn:
        await quarantine.hold(conn, "notifier", "planner", "m-held-42", "OverflowError")
        (held,) = await quarantine.listing(conn)
    # unsafe: the console is addressed by IP, whose cookies the jar refuses by default.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{console}/quarantine", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with http.post(
            f"{console}/quarantine/retry", data={"id": str(held.id)}, allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with http.post(f"{console}/login", data={"password": PASSWORD}) as resp:
            assert resp.status == 200
        async with http.get(f"{console}/quarantine") as resp:
            page = await resp.text()
        assert "m-held-42" in page and "OverflowError" in page and "planner" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        async with http.post(
            f"{console}/quarantine/retry", data={"id": str(held.id)}, allow_redirects=False
        ) as resp:
            assert resp.status == 403  # no CSRF token
        async with http.post(
            f"{console}/quarantine/retry",
            data={"id": str(held.id), "csrf": csrf[1]},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/quarantine?done=1"
        async with http.get(f"{console}/quarantine?done=1") as resp:
            page = await resp.text()
        assert "Handed back to its task." in page and "m-held-42" not in page
    async with pool.acquire() as conn:
        assert await quarantine.listing(conn) == []
        audited = await conn.fetchrow(
            "SELECT action, queue, message_ids, done FROM console.audit WHERE action = 'replay'"
        )
    assert dict(audited) == {
        "action": "replay",
        "queue": "quarantine:planner",
        "message_ids": ["m-held-42"],
        "done": 1,
    }
