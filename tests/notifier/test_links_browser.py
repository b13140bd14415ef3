"""The members' link pages in headless Chromium, reached from the links of a
real email captured by the sink. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from services.notifier import tokens
from services.notifier.sender import link_key
from shared.publisher import Publisher
from tests.helpers import free_port
from tests.notifier.real import (
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
)

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


@pytest.fixture
async def browser():
    if not HAVE_CHROMIUM:
        pytest.skip("no /usr/bin/chromium (deploy/local/bootstrap.sh installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def emailed(service_env, tmp_path, amqp, topology, settings, pool):
    """A running notifier and the links of one real email it sent."""
    publisher = await Publisher.create(await amqp.channel(), topology)
    port = free_port()
    process = NotifierProcess(base_env(service_env, port), tmp_path / "notifier.log")
    await process.start()
    box = Mailbox(domain())
    await publisher.publish(member_event(settings.secret_key, "m-web", f"web@{box.domain}"))
    from tests.notifier.test_notifier_real import member_known

    await member_known(pool, "m-web")
    await publisher.publish(
        match_event("m-web", posting_id="p-web", apply_url="https://careers.example/ea-ceo")
    )
    (mail,) = await box.wait_for(1)
    text = mail.text("plain")
    found = dict(re.findall(rf"{process.url}/(u|p|pause|i|n|f)/([A-Za-z0-9_-]+)", text))
    links = {k: f"{process.url}/{k}/{v}" for k, v in found.items()}
    yield process, links
    process.stop()


async def test_members_click_through_their_links(browser, emailed, pool, tmp_path, settings):
    process, links = emailed
    assert set(links) == {"u", "p", "pause", "i", "n", "f"}
    page = await browser.new_page(locale="it-IT", viewport={"width": 720, "height": 900})
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # Preferences: Italian, as the member's profile says; then saved in Swedish.
    response = await page.goto(links["p"])
    assert response is not None and response.status == 200
    assert await page.locator("h1").inner_text() == "Le tue preferenze email"
    await page.screenshot(path=shots / "preferences.png", full_page=True)
    await page.check("input[name=frequency][value=weekly]")
    await page.fill("input[name=quiet_start]", "21:00")
    await page.fill("input[name=quiet_end]", "07:30")
    await page.select_option("select[name=language]", "sv")
    await page.click("button[type=submit]")
    assert await page.locator("h1").inner_text() == "Inställningarna är sparade"
    row = await pool.fetchrow("SELECT * FROM notifier.members WHERE member_id = 'm-web'")
    assert row["local_frequency"] == "weekly"
    assert row["local_language"] == "sv"
    assert row["local_quiet_hours"] == ["21:00", "07:30"]

    # Pause: now in Swedish.
    await page.goto(links["pause"])
    assert await page.locator("h1").inner_text() == "Pausa ett tag"
    until = (datetime.now(UTC) + timedelta(days=10)).date()
    await page.fill("input[name=until]", until.isoformat())
    await page.click("button[type=submit]")
    assert (await page.locator("h1").inner_text()).startswith("Pausat till")
    await page.screenshot(path=shots / "paused.png", full_page=True)
    paused = await pool.fetchval(
        "SELECT local_paused_until FROM notifier.members WHERE member_id = 'm-web'"
    )
    assert paused is not None and paused > datetime.now(UTC) + timedelta(days=9)

    # Not for me, with a reason code.
    await page.goto(links["n"])
    await page.check("input[name=reason][value=place]")
    await page.click("button[type=submit]")
    assert await page.locator("h1").inner_text() == "Tack"
    feedback = await pool.fetchrow("SELECT posting_id, reason FROM notifier.feedback")
    assert dict(feedback) == {"posting_id": "p-web", "reason": "place"}

    # Forward: the form (its sending is tested in tests/privacy); interested: the
    # page shows what the company would receive, and nothing happens before a POST.
    await page.goto(links["f"])
    await page.screenshot(path=shots / "forward.png", full_page=True)
    assert await page.locator("input[name=colleague]").count() == 1
    await page.goto(links["i"])
    await page.screenshot(path=shots / "interested.png", full_page=True)
    assert "Ferretti" in await page.locator(".card").inner_text()
    assert "Giulia Rossi" in await page.locator("#candidate-name").inner_text()
    assert await pool.fetchval("SELECT count(*) FROM notifier.referrals") == 0

    # A tampered link: a clear page, no trace.
    token = links["u"].rsplit("/", 1)[1]
    tampered = links["u"][: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    english = await browser.new_page(locale="en-GB")
    response = await english.goto(tampered)
    assert response is not None and response.status == 400
    assert await english.locator("h1").inner_text() == "This link doesn't work"
    body = await english.content()
    assert "Traceback" not in body and "Error" not in body
    await english.screenshot(path=shots / "tampered.png", full_page=True)

    # An expired one.
    link_id = await pool.fetchval("SELECT link_id FROM notifier.members WHERE member_id = 'm-web'")
    old = tokens.issue(
        link_key(settings.secret_key),
        tokens.Action.PAUSE,
        link_id,
        timedelta(days=1),
        now=datetime.now(UTC) - timedelta(days=3),
    )
    response = await english.goto(f"{process.url}/pause/{old}")
    assert response is not None and response.status == 410
    assert await english.locator("h1").inner_text() == "This link has expired"
    # A link whose subject is gone.
    unknown = tokens.issue(
        link_key(settings.secret_key), tokens.Action.PAUSE, uuid.uuid4(), timedelta(days=1)
    )
    response = await english.goto(f"{process.url}/pause/{unknown}")
    assert response is not None and response.status == 404

    # Unsubscribe: GET only asks (scanners follow links), POST acts.
    await page.goto(links["u"])
    assert await page.locator("h1").inner_text() == "Vill du sluta få de här mejlen?"
    await page.screenshot(path=shots / "unsubscribe.png", full_page=True)
    assert await _unsubscribed(pool) is False
    await page.click("button[type=submit]")
    assert await page.locator("h1").inner_text() == "Prenumerationen är avslutad"
    assert await _unsubscribed(pool) is True
    print(f"\nscreenshots: {shots}")


async def test_one_click_unsubscribe_per_rfc_8058(emailed, pool):
    _, links = emailed
    async with aiohttp.ClientSession() as http:
        async with http.get(links["u"]) as resp:
            assert resp.status == 200
            assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert await _unsubscribed(pool) is False
        async with http.post(
            links["u"],
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp:
            assert resp.status == 200
    assert await _unsubscribed(pool) is True
    state = await pool.fetchval("SELECT opted_in FROM notifier.members WHERE member_id = 'm-web'")
    assert state is True, "the platform's opt-in is the platform's; ours is recorded beside it"


async def _unsubscribed(pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT unsubscribed_at IS NOT NULL FROM notifier.members WHERE member_id = 'm-web'"
        )
    )
