"""Console sessions against a real console process (issue 11, finding 5):
signing out kills the cookie, wrong passwords are throttled however parallel,
and the cookie is Secure when the console's public URL is https."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import ServiceProcess, free_port
from tests.ops.test_console_browser import PASSWORD, browser, console

pytestmark = pytest.mark.real

__all__ = ["browser", "console"]
COOKIE = "passaparola_console"


async def test_a_session_cookie_is_dead_once_its_operator_signs_out(
    browser, console, pool, tmp_path: Path
):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{console}/login")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url == f"{console}/"
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # the public URL of this console is http

    async def overview_with(value: str) -> int:
        async with (
            aiohttp.ClientSession(cookies={COOKIE: value}) as http,
            http.get(f"{console}/", allow_redirects=False) as resp,
        ):
            return resp.status

    assert await overview_with(cookie["value"]) == 200
    await page.click("form[action='/logout'] button")
    # The click returns once the navigation has started; a screenshot taken
    # before the sign-in page has loaded fails ("Unable to capture screenshot").
    await page.wait_for_url("**/login")
    await page.wait_for_load_state("load")
    await page.screenshot(path=tmp_path / "signed-out.png")
    assert (tmp_path / "signed-out.png").stat().st_size > 0
    # The copied cookie, replayed after sign-out, opens nothing.
    assert await overview_with(cookie["value"]) == 303
    assert await overview_with(cookie["value"][:-1] + "0") == 303


async def test_parallel_wrong_passwords_are_throttled(console):
    async with aiohttp.ClientSession() as http:

        async def guess(password: str) -> int:
            async with http.post(
                f"{console}/login", data={"password": password}, allow_redirects=False
            ) as resp:
                return resp.status

        statuses = await asyncio.gather(*(guess(f"guess-{i}") for i in range(40)))
        assert statuses.count(401) == 5
        assert statuses.count(429) == 35
        # Even the right password waits now: the guesser must not learn it.
        assert await guess(PASSWORD) == 429
        async with http.post(f"{console}/login", data={"password": "x"}) as resp:
            assert int(resp.headers["Retry-After"]) > 0


async def test_the_cookie_is_secure_when_the_public_url_is_https(service_env, tmp_path):
    port = free_port()
    env = {
        **service_env,
        "PASSAPAROLA_CONSOLE_PORT": str(port),
        "PASSAPAROLA_CONSOLE_PASSWORD": PASSWORD,
        "PASSAPAROLA_CONSOLE_PUBLIC_URL": "https://console.example",
        "PASSAPAROLA_CONSOLE_TARGETS": f"ingest=http://127.0.0.1:{free_port()}",
    }
    process = ServiceProcess(
        ["-m", "services.console"], env, port, tmp_path / "console.log", operator_port=port
    )
    await process.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/login",
                data={"password": PASSWORD},
                allow_redirects=False,
            ) as resp,
        ):
            assert resp.status == 303
            set_cookie = resp.headers["Set-Cookie"]
        assert set_cookie.startswith(f"{COOKIE}=")
        assert "Secure" in set_cookie
    finally:
        process.kill()
