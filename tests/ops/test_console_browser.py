"""The operator console in headless Chromium against the real servers: sign
in, see the queues, browse a dead-letter queue holding a real dead-lettered
message, replay it, find it in the audit log. Screenshots land in the test's
tmp dir."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from shared import logs
from shared.consumer import Consumer, Poison
from shared.publisher import Publisher
from shared.topology import MATCHER
from tests.helpers import ServiceProcess, eventually, free_port, publish_pings

pytestmark = pytest.mark.real

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "operator-test-password-7"
CANARY = "canary.lucia@example.it"


@pytest.fixture
async def browser():
    assert HAVE_CHROMIUM, "no /usr/bin/chromium (deploy/local/bootstrap.sh installs it)"
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def poisoned(amqp, pool, topology):
    """A consumer of the matcher's queue (in the test's namespace) whose
    handler refuses each event the first time, with personal data in the
    reason, and handles it when it comes back."""
    seen: Counter[str] = Counter()

    async def handle(event, conn) -> None:
        seen[event.id] += 1
        if seen[event.id] == 1:
            raise Poison(f"cannot reach {CANARY}")

    consumer = Consumer(
        spec=MATCHER, topology=topology, handler=handle, pool=pool, inbox_table="matcher.inbox"
    )
    await consumer.start(amqp)
    publisher = await Publisher.create(await amqp.channel(), topology)
    (envelope,) = await publish_pings(publisher, ["ok"])

    async def dead() -> bool:
        return consumer.outcomes["dead_lettered"] == 1

    await eventually(dead, what="the dead letter")
    yield consumer, envelope
    await consumer.stop(5)


@pytest.fixture
async def console(service_env, tmp_path):
    probe_port, port = free_port(), free_port()
    probe = ServiceProcess(
        ["-m", "tests.fixtures.probe_service"],
        {**service_env, "PASSAPAROLA_MATCHER_PORT": str(probe_port)},
        probe_port,
        tmp_path / "probe.log",
    )
    await probe.start()
    env = {
        **service_env,
        "PASSAPAROLA_CONSOLE_PORT": str(port),
        "PASSAPAROLA_CONSOLE_PASSWORD": PASSWORD,
        "PASSAPAROLA_CONSOLE_TARGETS": (
            f"ingest=http://127.0.0.1:{free_port()},matcher=http://127.0.0.1:{probe.operator_port}"
        ),
    }
    process = ServiceProcess(
        ["-m", "services.console"], env, port, tmp_path / "console.log", operator_port=port
    )
    await process.start()
    yield f"http://127.0.0.1:{port}"
    process.kill()
    probe.kill()


async def test_an_operator_replays_a_real_dead_letter(
    browser, console, poisoned, namespace, pool, tmp_path
):
    consumer, envelope = poisoned
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    shots = tmp_path / "screenshots"
    shots.mkdir()

    await page.goto(f"{console}/")
    assert page.url.endswith("/login")
    await page.fill("#password", "not-the-password")
    await page.click("button[type=submit]")
    assert await page.locator("[role=alert]").inner_text() == "Wrong password."
    await page.screenshot(path=shots / "1-wrong-password.png")

    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url == f"{console}/"
    body = await page.locator("main").inner_text()
    assert f"{namespace}.matcher" in body
    assert f"{namespace}.matcher.dlq" in body
    dlq_row = page.locator("tr", has_text=f"{namespace}.matcher.dlq")

    async def counted() -> bool:
        # The management API's figures trail by its statistics interval (2 s).
        if (await dlq_row.locator(".badge").inner_text()).strip() == "1":
            return True
        await page.reload()
        await page.wait_for_timeout(500)
        return False

    await eventually(counted, what="the dead letter in the overview")
    await page.screenshot(path=shots / "2-overview.png", full_page=True)

    await dlq_row.get_by_role("link", name="Browse").click()
    assert page.url == f"{console}/dlq/matcher"
    row = page.locator("tbody tr", has_text=envelope.id)
    # The reason names the exception, never its text (which held an address).
    assert await row.locator("td", has_text="poison: Poison").count() == 1
    assert "cannot reach" not in await row.inner_text()
    assert CANARY not in await page.content()
    await page.screenshot(path=shots / "3-dead-letters.png", full_page=True)

    await row.locator("input[type=checkbox]").check()
    await page.get_by_role("button", name="Replay selected").click()
    assert "Replayed 1 of 1 message(s)." in await page.locator("[role=status]").inner_text()

    async def handled() -> bool:
        return consumer.outcomes["ok"] == 1

    await eventually(handled, what="the replayed message handled")
    await page.reload()
    assert "This dead-letter queue is empty." in await page.locator("main").inner_text()
    await page.screenshot(path=shots / "4-replayed.png", full_page=True)

    await page.locator("header nav").get_by_role("link", name="Audit log").click()
    entry = page.locator("tbody tr", has_text="replay")
    assert envelope.id in await entry.inner_text()
    assert f"{namespace}.matcher.dlq" in await entry.inner_text()
    await page.screenshot(path=shots / "5-audit.png", full_page=True)
    rows = await pool.fetch("SELECT action, done, message_ids FROM console.audit ORDER BY id")
    assert [(r["action"], r["done"]) for r in rows] == [
        ("login_failed", None),
        ("login", None),
        ("replay", 1),
    ]
    assert rows[2]["message_ids"] == [envelope.id]

    # The live part refreshes by itself, with no script or style from elsewhere.
    async with page.expect_response(lambda r: "/fragment/overview" in r.url, timeout=15000):
        await page.goto(f"{console}/")
    csp = (await page.request.get(f"{console}/")).headers["content-security-policy"]
    assert "script-src 'self'" in csp
    logs.get_logger(__name__).info("screenshots", path=str(shots))


async def test_a_post_without_the_csrf_token_is_refused(browser, console, poisoned):
    consumer, envelope = poisoned
    page = await browser.new_page()
    await page.goto(f"{console}/login")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    # Signed in (the cookie goes along), but no token, then a wrong one.
    for form in (
        {"action": "discard", "id": envelope.id},
        {"action": "discard", "id": envelope.id, "csrf": "0" * 64},
    ):
        resp = await page.request.post(f"{console}/dlq/matcher/act", form=form)
        assert resp.status == 403
    # And nothing happened to the dead letter.
    await page.goto(f"{console}/dlq/matcher")
    assert envelope.id in await page.locator("main").inner_text()
    assert consumer.outcomes["dead_lettered"] == 1


async def test_without_signing_in_nothing_is_shown_and_a_wrong_password_is_refused(console):
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/dlq/matcher", "/audit"):
            async with http.get(f"{console}{path}", allow_redirects=False) as resp:
                assert resp.status == 303
                assert resp.headers["Location"] == "/login"
        async with http.post(
            f"{console}/dlq/matcher/act", data={"action": "discard"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        async with http.post(f"{console}/login", data={"password": "guess"}) as resp:
            assert resp.status == 401
            assert "passaparola_console" not in resp.cookies
        async with http.get(f"{console}/fragment/overview") as resp:
            assert resp.status == 401
